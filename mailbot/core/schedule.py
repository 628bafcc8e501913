"""Which scheduled jobs are due: a pure function of the time and what already ran.

Each job has a period (a day for the digest, a month for the reminders and
the monthly report) and a moment in that period (Vietnam's local time).
Only the most recent occurrence is ever due, and only within its catch-up
window: a daemon that was down over the 19th makes the report when it comes
back, but one that was down for a week sends one digest, not seven.
Whether a period already ran is the store's ``job_runs`` table, keyed by
``(job, period)``, so a restart never runs a job twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["VN", "Due", "JobSpec", "due", "next_run", "occurrence"]

VN = ZoneInfo("Asia/Ho_Chi_Minh")
Every = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job: its name, how often, at what local time (and day of month), how late it may run."""

    name: str
    every: Every
    at: time
    day: int = 1
    catch_up: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Due:
    """One job to run now, for one period (``2026-03-19`` or ``2026-03``)."""

    job: str
    period: str
    scheduled: datetime


def occurrence(spec: JobSpec, now: datetime) -> Due:
    """The job's most recent scheduled moment at or before ``now``."""
    local = now.astimezone(VN)
    if spec.every == "day":
        moment = datetime.combine(local.date(), spec.at, VN)
        if moment > local:
            moment -= timedelta(days=1)
        return Due(spec.name, moment.date().isoformat(), moment)
    moment = datetime.combine(date(local.year, local.month, spec.day), spec.at, VN)
    if moment > local:
        prev = local.replace(day=1) - timedelta(days=1)
        moment = datetime.combine(date(prev.year, prev.month, spec.day), spec.at, VN)
    return Due(spec.name, f"{moment.year:04d}-{moment.month:02d}", moment)


def due(specs: tuple[JobSpec, ...], now: datetime, done: frozenset[tuple[str, str]]) -> list[Due]:
    """The jobs to run now: their latest occurrence, not yet done, within its window."""
    out = []
    for spec in specs:
        job = occurrence(spec, now)
        if (job.job, job.period) not in done and now - job.scheduled <= spec.catch_up:
            out.append(job)
    return out


def next_run(spec: JobSpec, now: datetime) -> datetime:
    """The job's next scheduled moment after ``now``, in Vietnam's time."""
    last = occurrence(spec, now).scheduled
    if spec.every == "day":
        return last + timedelta(days=1)
    year, month = (last.year + 1, 1) if last.month == 12 else (last.year, last.month + 1)
    return last.replace(year=year, month=month)
