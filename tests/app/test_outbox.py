"""drain() against a real aiosmtpd server and a real SQLite store (RELIABILITY rule 5, case 8)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbot.app.outbox import LEASE, RECOVERED, DrainReport, backoff, drain, make_sender
from mailbot.config import SmtpSettings
from mailbot.core.model import Address, Classification, Mail
from mailbot.shell.clock import FixedClock
from mailbot.shell.records import OutboxItem
from mailbot.shell.smtp import FileSender, SmtpSender
from mailbot.shell.store import Store
from tests.smtpd import SmtpServer

NOW = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
TO = ("lan@thcspomlot.edu.vn",)


def item(n: int) -> OutboxItem:
    mid = f"<ack-{n}@thcspomlot.edu.vn>"
    raw = (
        f"From: truyenthong@thcspomlot.edu.vn\r\nTo: {TO[0]}\r\nMessage-ID: {mid}\r\n"
        f"Auto-Submitted: auto-replied\r\nSubject: receipt {n}\r\n\r\nreceived\r\n"
    ).encode()
    return OutboxItem(mid, "ack", TO, raw)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return os.environ.get("MAILBOT_DATABASE_URL") or f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def sender_for(server: SmtpServer) -> SmtpSender:
    return SmtpSender(server.host, server.port, "none", local_hostname="bot.test", timeout=5)


def state(store: Store, message_id: str) -> tuple[str, int, str | None]:
    """The row's state, attempts and last error, read directly."""
    with store.connection() as conn:
        found = conn.execute(
            text("SELECT state, attempts, last_error FROM outbox WHERE message_id = :mid"),
            {"mid": message_id},
        ).one()
    return found[0], found[1], found[2]


# -- the happy path ----------------------------------------------------------------


def test_drain_sends_due_rows_with_null_sender(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    assert store.enqueue([item(1), item(2), item(1)], NOW) == 2
    report = drain(store, sender_for(smtpd), clock)
    assert report == DrainReport(sent=2)
    assert smtpd.by_message_id() == {item(1).message_id: 1, item(2).message_id: 1}
    assert {m.mail_from for m in smtpd.received} == {"<>"}
    assert smtpd.received[0].content == item(1).raw
    assert state(store, item(1).message_id) == ("sent", 1, None)
    assert drain(store, sender_for(smtpd), clock) == DrainReport()


def test_drain_sends_the_outbox_of_a_filed_message(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    """Rows written by ``file_message`` (in the decision's transaction) are drained too."""
    claim = store.claim("INBOX", 7, 1, sha256="a" * 64, message_id="<m1@parent.example>", now=NOW)
    mail = Mail(sha256="a" * 64, message_id="<m1@parent.example>", sender=Address("", TO[0]))
    cls = Classification(role="parent", group=None, kind="feedback", topics=(), urgent=False)
    store.file_message(
        claim.record.id,
        mail=mail,
        classification=cls,
        folder="Phản hồi",
        raw_path="raw/a.eml",
        attachments=[],
        outbox=[item(1)],
        now=NOW,
    )
    assert drain(store, sender_for(smtpd), clock).sent == 1
    assert smtpd.by_message_id() == {item(1).message_id: 1}


def test_envelope_from_can_be_a_bounce_address(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(1)], NOW)
    drain(store, sender_for(smtpd), clock, envelope_from="bounces@thcspomlot.edu.vn")
    assert smtpd.received[0].mail_from == "bounces@thcspomlot.edu.vn"


def test_limit_caps_one_round(store: Store, smtpd: SmtpServer, clock: FixedClock) -> None:
    store.enqueue([item(n) for n in range(5)], NOW)
    assert drain(store, sender_for(smtpd), clock, limit=2).sent == 2
    assert drain(store, sender_for(smtpd), clock, limit=10).sent == 3


# -- failures ----------------------------------------------------------------------


def test_4xx_is_retried_later_then_sent_exactly_once(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(1)], NOW)
    smtpd.fail_next("DATA", "451 4.3.0 try again later")
    assert drain(store, sender_for(smtpd), clock) == DrainReport(retried=1)
    assert state(store, item(1).message_id) == ("pending", 1, f"SMTP {smtpd.host}:{smtpd.port}: "
                                                "451 4.3.0 try again later")  # fmt: skip
    assert drain(store, sender_for(smtpd), clock) == DrainReport()  # not due yet
    clock.at += backoff(1)
    assert drain(store, sender_for(smtpd), clock) == DrainReport(sent=1)
    assert smtpd.by_message_id() == {item(1).message_id: 1}
    assert state(store, item(1).message_id) == ("sent", 2, None)


def test_4xx_until_max_attempts_then_failed(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(1)], NOW)
    smtpd.fail_next("DATA", "452 4.3.1 out of space", times=3)
    reports = []
    for attempt in (1, 2, 3):
        reports.append(drain(store, sender_for(smtpd), clock, max_attempts=3))
        clock.at += backoff(attempt)
    assert reports == [DrainReport(retried=1), DrainReport(retried=1), DrainReport(failed=1)]
    status, attempts, error = state(store, item(1).message_id)
    assert (status, attempts) == ("failed", 3)
    assert error is not None and error.startswith("gave up after 3 attempts:") and "452" in error
    clock.at += timedelta(days=1)
    assert drain(store, sender_for(smtpd), clock) == DrainReport()
    assert smtpd.received == []


def test_5xx_fails_for_good_with_the_reply(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(1), item(2)], NOW)
    smtpd.fail_next("RCPT", "550 5.1.1 no such user")
    assert drain(store, sender_for(smtpd), clock) == DrainReport(sent=1, failed=1)
    status, _, error = state(store, item(1).message_id)
    assert status == "failed" and error is not None and "550" in error
    clock.at += timedelta(days=30)
    assert drain(store, sender_for(smtpd), clock) == DrainReport()
    assert smtpd.by_message_id() == {item(2).message_id: 1}


def test_server_down_stops_the_round_then_nothing_is_lost(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(n) for n in range(4)], NOW)
    smtpd.stop()
    report = drain(store, sender_for(smtpd), clock)
    assert (report.sent, report.retried, report.failed) == (0, 1, 0)
    assert report.stopped is not None and "refused" in report.stopped
    assert [state(store, item(n).message_id)[:2] for n in range(4)] == [
        ("pending", 1),
        ("pending", 0),
        ("pending", 0),
        ("pending", 0),
    ]
    smtpd.start()
    assert drain(store, sender_for(smtpd), clock).sent == 4  # an outage adds no delay
    assert smtpd.by_message_id() == {item(n).message_id: 1 for n in range(4)}


def test_an_unreachable_server_never_uses_up_attempts(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    """A long outage (or a wrong password) is not the message's fault: it stays pending."""
    store.enqueue([item(1)], NOW)
    smtpd.stop()
    for _ in range(4):
        assert drain(store, sender_for(smtpd), clock, max_attempts=2).retried == 1
        clock.at += timedelta(hours=1)
    assert state(store, item(1).message_id)[:2] == ("pending", 4)
    smtpd.start()
    assert drain(store, sender_for(smtpd), clock).sent == 1


# -- crashes and races (case 8, case 15) -------------------------------------------


def crash_after_send(store: Store, server: SmtpServer, message_id: str) -> None:
    """What a process killed after the server's 250, before ``mark_sent``, leaves behind."""
    [row] = [r for r in store.pending_outbox(NOW, 100) if r.message_id == message_id]
    assert store.lease_outbox(row.id, NOW + LEASE)
    sender_for(server).send(row.raw, envelope_from="", recipients=row.recipients)


def test_crash_after_250_resends_once_with_the_same_message_id(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(1), item(2)], NOW)
    crash_after_send(store, smtpd, item(1).message_id)
    assert drain(store, sender_for(smtpd), clock) == DrainReport(sent=1)  # lease still runs
    assert state(store, item(1).message_id)[0] == "sending"
    clock.at = NOW + LEASE
    assert drain(store, sender_for(smtpd), clock) == DrainReport(sent=1)
    assert smtpd.by_message_id() == {item(1).message_id: 2, item(2).message_id: 1}
    first, second = (m.content for m in smtpd.received if m.message_id == item(1).message_id)
    assert first == second == item(1).raw
    assert state(store, item(1).message_id) == ("sent", 2, None)
    clock.at += timedelta(days=1)
    assert drain(store, sender_for(smtpd), clock) == DrainReport()


def test_a_row_marked_sending_without_a_lease_is_recovered_at_once(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    """``mark_sending`` (no lease) followed by a crash: recovered on the next drain."""
    store.enqueue([item(1)], NOW)
    [row] = store.pending_outbox(NOW, 10)
    assert store.mark_sending(row.id)
    assert drain(store, sender_for(smtpd), clock) == DrainReport(sent=1)
    assert smtpd.by_message_id() == {item(1).message_id: 1}


class CrashAfterSend:
    """A sender whose process "dies" right after the server accepted the message."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner

    def send(self, raw: bytes, *, envelope_from: str, recipients: Sequence[str]) -> None:
        self.inner.send(raw, envelope_from=envelope_from, recipients=recipients)
        raise KeyboardInterrupt


def test_a_second_crash_is_not_resent_a_third_time(
    store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(1)], NOW)
    crash_after_send(store, smtpd, item(1).message_id)
    clock.at = NOW + LEASE
    with pytest.raises(KeyboardInterrupt):
        drain(store, CrashAfterSend(sender_for(smtpd)), clock)
    assert state(store, item(1).message_id) == ("sending", 2, RECOVERED)
    clock.at += LEASE
    assert drain(store, sender_for(smtpd), clock) == DrainReport()
    status, _, error = state(store, item(1).message_id)
    assert status == "failed" and error is not None and "not resent" in error
    assert smtpd.by_message_id() == {item(1).message_id: 2}


def test_two_drains_at_once_never_send_a_row_twice(
    db_url: str, store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    store.enqueue([item(n) for n in range(30)], NOW)
    other = Store.open(db_url)
    start = threading.Barrier(2)

    def run(s: Store) -> DrainReport:
        start.wait()
        return drain(s, sender_for(smtpd), clock)

    try:
        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(run, [store, other]))
    finally:
        other.close()
    assert sum(r.sent for r in reports) == 30
    assert smtpd.by_message_id() == {item(n).message_id: 1 for n in range(30)}


class DrainsMeanwhile:
    """A sender that, during its first send, lets a second process drain the same table."""

    def __init__(self, inner: SmtpSender, other: Store, clock: FixedClock) -> None:
        self.inner, self.other, self.clock = inner, other, clock
        self.inner_report: DrainReport | None = None

    def send(self, raw: bytes, *, envelope_from: str, recipients: Sequence[str]) -> None:
        if self.inner_report is None:
            self.inner_report = drain(self.other, self.inner, self.clock)
        self.inner.send(raw, envelope_from=envelope_from, recipients=recipients)


def test_a_drain_never_takes_a_row_another_is_sending(
    db_url: str, store: Store, smtpd: SmtpServer, clock: FixedClock
) -> None:
    """Deterministic form of the race: the in-flight row is leased, the rest taken once."""
    store.enqueue([item(n) for n in range(3)], NOW)
    other = Store.open(db_url)
    try:
        sender = DrainsMeanwhile(sender_for(smtpd), other, clock)
        outer = drain(store, sender, clock)
    finally:
        other.close()
    assert sender.inner_report == DrainReport(sent=2)
    assert outer == DrainReport(sent=1)
    assert smtpd.by_message_id() == {item(n).message_id: 1 for n in range(3)}


# -- wiring --------------------------------------------------------------------------


def test_make_sender_files_mail_without_an_smtp_host(
    tmp_path: Path, store: Store, clock: FixedClock
) -> None:
    sender = make_sender(SmtpSettings(), tmp_path)
    assert isinstance(sender, FileSender) and sender.folder == tmp_path / "outbox"
    store.enqueue([item(1), item(2)], NOW)
    assert drain(store, sender, clock).sent == 2
    assert len(list((tmp_path / "outbox").iterdir())) == 2


def test_make_sender_uses_smtp_with_a_host(tmp_path: Path) -> None:
    settings = SmtpSettings(host="smtp.example", port=587, security="starttls", user="u")
    assert isinstance(make_sender(settings, tmp_path), SmtpSender)


def test_backoff_doubles_up_to_an_hour() -> None:
    minutes = [backoff(n) / timedelta(minutes=1) for n in (0, 1, 2, 3, 6, 7, 100)]
    assert minutes == [1, 1, 2, 4, 32, 60, 60]
