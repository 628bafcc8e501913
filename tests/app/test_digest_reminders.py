"""The daily digest and the monthly reminders, through the real jobs and outbox."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot.app.daemon import Daemon
from mailbot.app.demo import demo_settings, make_demo_maildir
from mailbot.app.jobs import Jobs
from mailbot.app.wiring import App, build
from mailbot.core.schedule import VN
from mailbot.shell.clock import FixedClock
from tests.app.helpers import with_test_database

START = datetime(2026, 3, 6, 9, 0, tzinfo=VN)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = with_test_database(demo_settings(tmp_path / "demo"))
    make_demo_maildir(settings.maildir_path)
    application = build(settings, clock=FixedClock(START))
    Daemon(application).run_once()
    yield application
    application.close()


def _outbox(app: App) -> list[EmailMessage]:
    out = []
    for path in sorted((app.settings.store_dir / "outbox").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def _by_purpose(app: App, words: str) -> list[EmailMessage]:
    return [m for m in _outbox(app) if words in str(m["Subject"])]


def _at(app: App, when: datetime) -> list[str]:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.at = when
    ran = Jobs(app).run_due()
    app.send_queued()
    return ran


def test_digest_lists_what_waits_and_is_sent_once_a_day(app: App) -> None:
    assert "digest/2026-03-07" in _at(app, datetime(2026, 3, 7, 7, 1, tzinfo=VN))
    [digest] = _by_purpose(app, "Bản tin hộp thư truyền thông")
    assert set(str(digest["To"]).split(", ")) == {
        "hieutruong@thcspomlot.edu.vn",
        "thanglv@thcspomlot.edu.vn",
    }
    text = digest.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    records = app.store.records()
    pending = [r.ref for r in records if r.status == "pending"]
    open_cases = [r.ref for r in records if r.status == "open"]
    assert pending and open_cases
    assert all(ref and ref in body for ref in pending + open_cases)
    assert "VIỆC KHẨN (1)" in body
    html = digest.get_body(("html",))
    assert html is not None and 'name="viewport"' in html.get_content()
    assert _at(app, datetime(2026, 3, 7, 12, 0, tzinfo=VN)) == []
    assert len(_by_purpose(app, "Bản tin hộp thư truyền thông")) == 1


def test_no_digest_on_a_day_with_nothing_new(tmp_path: Path) -> None:
    """An empty mailbox sends nothing, unless schedule.digest_when_empty says so."""
    settings = with_test_database(demo_settings(tmp_path / "empty"))
    make_demo_maildir(settings.maildir_path)
    for sample in settings.maildir_path.glob("*/*"):
        sample.unlink()
    quiet = build(settings, clock=FixedClock(START))
    try:
        Daemon(quiet).run_once()
        assert "digest/2026-03-07" in _at(quiet, datetime(2026, 3, 7, 7, 1, tzinfo=VN))
        assert _by_purpose(quiet, "Bản tin") == []
        [run] = [r for r in quiet.store.all_runs() if r.job == "digest"]
        assert run.detail == "nothing new: not sent"
    finally:
        quiet.close()


def test_reminders_on_the_10th_once_per_month(app: App) -> None:
    ran = _at(app, datetime(2026, 3, 10, 8, 5, tzinfo=VN))
    assert "reminders/2026-03" in ran
    reminded = _by_purpose(app, "Nhắc gửi tin, bài")
    groups = sorted(str(m["Subject"]).rsplit("– ", 1)[1] for m in reminded)
    # KHTN and CD sent articles in the demo; the four other groups owe one.
    assert groups == sorted(
        ["Tổ Khoa học xã hội", "Tổ Văn phòng", "Liên đội TNTP Hồ Chí Minh", "Chi đoàn Thanh niên"]
    )
    again = _at(app, datetime(2026, 3, 11, 8, 5, tzinfo=VN))
    assert not any(name.startswith("reminders/") for name in again)
    assert len(_by_purpose(app, "Nhắc gửi tin, bài")) == len(reminded)
