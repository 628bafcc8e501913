"""Personal data: retention and erasure on request (RELIABILITY case 25)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mailbot.app.daemon import Daemon
from mailbot.app.demo import demo_settings, make_demo_maildir
from mailbot.app.jobs import Jobs
from mailbot.app.purge import purge
from mailbot.app.wiring import App, build
from mailbot.core.schedule import VN
from mailbot.shell.clock import FixedClock
from tests.app.helpers import with_test_database

PARENT = "giangasu88@gmail.com"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = with_test_database(demo_settings(tmp_path / "demo"))
    make_demo_maildir(settings.maildir_path)
    application = build(settings, clock=FixedClock(datetime(2026, 3, 10, 9, tzinfo=VN)))
    Daemon(application).run_once()
    yield application
    application.close()


def _from(app: App, address: str) -> list[int]:
    return [r.id for r in app.store.personal_records(sender=address)]


def test_erasure_on_request_removes_the_mail_and_keeps_the_counts(app: App) -> None:
    [record] = [r for r in app.store.records() if r.sender_addr == PARENT]
    raw = app.blobs.path(record.raw_path or "")
    assert raw.exists()
    report = purge(app, address=PARENT.upper())
    assert report.records == 1 and report.files >= 1
    assert not raw.exists()
    after = app.store.record(record.id)
    assert after is not None
    assert (after.sender_addr, after.sender_name, after.raw_path) == (None, None, None)
    assert PARENT not in repr(after)
    assert (after.kind, after.topics, after.urgent, after.ref) == (
        record.kind,
        record.topics,
        record.urgent,
        record.ref,
    )
    assert all(PARENT.encode() not in row.raw for row in app.store.sending_outbox())
    assert _from(app, PARENT) == []
    assert [r.job for r in app.store.all_runs()].count("purge") == 1


def test_a_later_mail_from_an_erased_person_is_filed_normally(app: App) -> None:
    purge(app, address=PARENT)
    sample = (
        next(p for p in app.settings.maildir_path.parent.rglob("*") if False) if False else None
    )
    assert sample is None
    make_demo = app.settings.maildir_path / "new"
    raw = (
        Path(__file__).resolve().parents[2]
        / "mailbot"
        / "demo"
        / "04-parent-urgent-no-diacritics.eml"
    ).read_bytes()
    (make_demo / "later.eml").write_bytes(raw)
    report = Daemon(app).run_once()
    assert (report.filed, report.duplicates) == (1, 0)


def test_retention_erases_only_old_personal_records(app: App) -> None:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    staff_before = {r.id for r in app.store.records() if r.role == "teacher"}
    assert purge(app).records == 0  # nothing is a year old yet
    clock.at += timedelta(days=app.settings.retention_days + 1)
    assert purge(app).records >= 3  # the parents', the student's and strangers' messages
    assert all(
        r.sender_addr is None for r in app.store.records() if r.role in ("parent", "student")
    )
    assert {
        r.id for r in app.store.records() if r.role == "teacher" and r.sender_addr
    } == staff_before


def test_retention_is_a_daily_job(app: App) -> None:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.at += timedelta(days=400)
    ran = Jobs(app).run_due()
    assert any(name.startswith("retention/") for name in ran)
