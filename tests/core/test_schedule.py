"""Which jobs are due (mailbot.core.schedule): occurrences, catch-up, no repeats."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from mailbot.core.schedule import VN, JobSpec, due, occurrence

DIGEST = JobSpec("digest", "day", time(7, 0))
REPORT = JobSpec("monthly-report", "month", time(8, 0), day=19, catch_up=timedelta(days=20))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


def test_daily_occurrence_before_and_after_its_time() -> None:
    assert occurrence(DIGEST, at(2026, 3, 5, 6, 59)).period == "2026-03-04"
    assert occurrence(DIGEST, at(2026, 3, 5, 7, 0)).period == "2026-03-05"


def test_monthly_occurrence_across_a_year_boundary() -> None:
    assert occurrence(REPORT, at(2026, 1, 10)).period == "2025-12"
    assert occurrence(REPORT, at(2026, 1, 19, 8)).period == "2026-01"


def test_due_once_per_period() -> None:
    now = at(2026, 3, 19, 8, 5)
    [job] = due((REPORT,), now, frozenset())
    assert (job.job, job.period) == ("monthly-report", "2026-03")
    assert due((REPORT,), now, frozenset({("monthly-report", "2026-03")})) == []


def test_catch_up_after_downtime_over_the_19th() -> None:
    """Down from the 18th to the 22nd: the March report runs on the 22nd."""
    [job] = due((REPORT,), at(2026, 3, 22, 9), frozenset())
    assert job.period == "2026-03"


def test_a_week_down_sends_one_digest_not_seven() -> None:
    assert [j.period for j in due((DIGEST,), at(2026, 3, 12, 10), frozenset())] == ["2026-03-12"]
    assert due((DIGEST,), at(2026, 3, 12, 6), frozenset()) == []


def test_the_clock_is_vietnams() -> None:
    """07:00 in Hà Nội is 00:00 UTC."""
    assert occurrence(DIGEST, datetime(2026, 3, 5, 0, 0, tzinfo=UTC)).period == "2026-03-05"
