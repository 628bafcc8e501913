"""Draining the transactional outbox (RELIABILITY rule 5, cases 8 and 24).

Every outgoing mail was written to the ``outbox`` table in the transaction
that decided it; :func:`drain` sends what is due. Each row is leased
(``pending`` → ``sending``) before its send, so two drains at once never send
the same row, and marked ``sent`` after the server's 250.

SMTP is at-least-once (RFC 1047): a crash between the 250 and ``mark_sent``
leaves a row ``sending`` that may or may not have been delivered. Once its
lease has run out such a row is resent ONCE with the same bytes, hence the
same Message-ID, so a duplicate is recognisable; if that resend is cut short
by a crash too, the row is failed rather than sent a third time, so no crash
loop can resend it forever.

Automatic mail goes out with the null reverse-path (RFC 3834 section 3.3,
RFC 5321 section 4.5.5): ``envelope_from=""`` by default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from mailbot.config import SmtpSettings
from mailbot.errors import SendError
from mailbot.shell.clock import Clock
from mailbot.shell.oauth import TokenProvider
from mailbot.shell.records import OutboxRecord
from mailbot.shell.smtp import (
    FileSender,
    PermanentSendError,
    Sender,
    SmtpSender,
    TemporarySendError,
)
from mailbot.shell.store import Store

__all__ = ["DrainReport", "backoff", "drain", "make_sender"]

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
# Longer than any one SMTP session can take (a few round trips of <= 30 s each),
# so a live sender never loses its row to a recovering one.
LEASE = timedelta(minutes=10)
RECOVERED = "left sending by a crash; resent once"
Outcome = Literal["sent", "retried", "failed"]


@dataclass(frozen=True, slots=True)
class DrainReport:
    """What one drain did; ``stopped`` holds the error that ended the round early."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    stopped: str | None = None


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    stopped: str | None = None

    def add(self, outcome: Outcome, stop: str | None) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.stopped = stop

    def report(self) -> DrainReport:
        return DrainReport(self.sent, self.retried, self.failed, self.stopped)


@dataclass(frozen=True, slots=True)
class _Round:
    store: Store
    sender: Sender
    clock: Clock
    max_attempts: int
    envelope_from: str


def make_sender(
    settings: SmtpSettings, store_dir: Path, tokens: TokenProvider | None = None
) -> Sender:
    """SMTP when a host is configured, else .eml files in ``store_dir/outbox``."""
    if not settings.host:
        return FileSender(store_dir / "outbox")
    return SmtpSender(
        settings.host,
        settings.port,
        settings.security,
        settings.user,
        settings.password,
        token_provider=tokens if settings.auth == "xoauth2" else None,
    )


def drain(
    store: Store,
    sender: Sender,
    clock: Clock,
    *,
    limit: int = 100,
    max_attempts: int = 8,
    envelope_from: str = "",
) -> DrainReport:
    """Recover rows a crash left ``sending``, then send up to ``limit`` due rows.

    Each row is leased just before its send. The round stops at the first
    error saying the server cannot be reached, leaving the rest pending.
    """
    run = _Round(store, sender, clock, max_attempts, envelope_from)
    tally = _Tally()
    for row in _candidates(run, limit):
        taken = _take(run, row)
        if taken is not None:
            tally.add(*_deliver(run, taken))
        if tally.stopped:
            log.warning("outbox: %s; the rest waits for the next round", tally.stopped)
            break
    return tally.report()


def _candidates(run: _Round, limit: int) -> Iterator[OutboxRecord]:
    """Rows left ``sending`` first, then the pending rows due now (read after recovery)."""
    yield from run.store.sending_outbox()
    yield from run.store.pending_outbox(run.clock.now(), limit)


def _take(run: _Round, row: OutboxRecord) -> OutboxRecord | None:
    """Lease ``row`` for this drain; the row as taken (one more attempt), or None."""
    now = run.clock.now()
    if row.state == "sending":
        taken = _reclaim(run, row, now)
    else:
        taken = run.store.lease_outbox(row.id, now + LEASE)
    return replace(row, attempts=row.attempts + 1) if taken else None


def _reclaim(run: _Round, row: OutboxRecord, now: datetime) -> bool:
    """Take a crashed ``sending`` row for one resend; fail it if that was done already."""
    if row.next_attempt_at is not None and row.next_attempt_at > now:
        return False  # leased by a live drain
    if row.last_error == RECOVERED:
        reason = f"left sending by a crash after {row.attempts} attempt(s); not resent again"
        log.warning("outbox %d: %s (it may have been delivered)", row.id, reason)
        run.store.mark_outbox_failed(row.id, reason, now, retry_at=None)
        return False
    log.info("outbox %d: left sending by a crash; resending once, same Message-ID", row.id)
    return run.store.reclaim_outbox(row.id, now, now + LEASE, RECOVERED)


def _deliver(run: _Round, row: OutboxRecord) -> tuple[Outcome, str | None]:
    """Send one leased row and record the outcome; plus the error if the server is unreachable."""
    try:
        run.sender.send(row.raw, envelope_from=run.envelope_from, recipients=row.recipients)
    except PermanentSendError as exc:
        run.store.mark_outbox_failed(row.id, str(exc), run.clock.now(), retry_at=None)
        log.warning("outbox %d: refused for good: %s", row.id, exc)
        return "failed", None
    except SendError as exc:
        return _temporary(run, row, exc)
    run.store.mark_sent(row.id, run.clock.now())
    return "sent", None


def _temporary(run: _Round, row: OutboxRecord, exc: SendError) -> tuple[Outcome, str | None]:
    """Retry later with backoff; give up after ``max_attempts`` message-level failures.

    An unreachable server is not the message's fault: it uses up no attempt
    and adds no delay, the round simply stops and the next round tries again.
    """
    now = run.clock.now()
    unreachable = isinstance(exc, TemporarySendError) and exc.unreachable
    stop = str(exc) if unreachable else None
    if not unreachable and row.attempts >= run.max_attempts:
        error = f"gave up after {row.attempts} attempts: {exc}"
        run.store.mark_outbox_failed(row.id, error, now, retry_at=None)
        return "failed", stop
    retry_at = now if unreachable else now + backoff(row.attempts)
    run.store.mark_outbox_failed(row.id, str(exc), now, retry_at=retry_at)
    return "retried", stop


def backoff(attempts: int) -> timedelta:
    """1 min after the first attempt, doubling each time, at most 1 h."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 16)), MAX_RETRY)
