"""The long-running loop: sync, wait for mail, reconnect, stop cleanly.

* New mail wakes the loop through IMAP IDLE (RFC 2177) where the server has
  it, re-issued well before the 29-minute limit; otherwise it polls.
* Every wake runs a full pass by UID from the stored high-water mark, and a
  pass runs at least every ``reconcile_seconds`` whatever IDLE says, because
  a silently dead connection looks exactly like a quiet mailbox.
* A lost connection or a server restart is retried with jittered
  exponential backoff; the daemon itself never stops for a bad message.
* SIGTERM and SIGINT finish the message in hand, then exit 0.
"""

from __future__ import annotations

import functools
import logging
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

import schedule

from mailbot.app.ingest import PassReport, Progress
from mailbot.app.jobs import Jobs, job_specs
from mailbot.app.liveness import Liveness
from mailbot.app.outbox import DrainReport
from mailbot.app.wiring import App
from mailbot.errors import SourceError, StoreError
from mailbot.shell.source import MailSource

__all__ = ["Backoff", "Daemon", "Stopper"]

log = logging.getLogger("mailbot.daemon")
LOCKED_RETRY_SECONDS = 5.0


class _InterruptedError(Exception):
    """Raised inside an IDLE wait so that a stop signal ends it at once."""


@dataclass
class Stopper:
    """Turns SIGTERM/SIGINT into a flag; interrupts only a wait, never a message."""

    requested: bool = False
    waiting: bool = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the message in hand", signum)
        self.requested = True
        if self.waiting:
            raise _InterruptedError

    @contextmanager
    def installed(self) -> Iterator[None]:
        old = {s: signal.signal(s, self.handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def wait(self, block: Callable[[], object]) -> None:
        """Run a blocking wait that a stop signal may cut short; skip it if one came already."""
        self.waiting = True
        try:
            if not self.requested:
                block()
        except _InterruptedError:
            pass
        finally:
            self.waiting = False


@dataclass
class Backoff:
    """Jittered exponential delays: 1 s, 2 s, 4 s … up to ``ceiling``."""

    floor: float = 1.0
    ceiling: float = 300.0
    failures: int = 0
    jitter: Callable[[], float] = random.random

    def next_delay(self) -> float:
        base = min(self.ceiling, self.floor * 2**self.failures)
        self.failures += 1
        return float(base / 2 + base / 2 * self.jitter())

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Daemon:
    """Runs ingest passes over the mailbox until stopped."""

    app: App
    stopper: Stopper = field(default_factory=Stopper)
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[int], Progress] | None = None
    last_drain: DrainReport | None = None
    _skipped: bool = False
    scheduler: schedule.Scheduler = field(default_factory=schedule.Scheduler)

    def __post_init__(self) -> None:
        self.liveness = Liveness(self.app)
        jobs = Jobs(self.app)
        times = {spec.at.strftime("%H:%M") for spec in job_specs(self.app)}
        for at in sorted(times):
            self.scheduler.every().day.at(at, "Asia/Ho_Chi_Minh").do(self._run_jobs, jobs)
        self._jobs = jobs

    def _run_jobs(self, jobs: Jobs) -> None:
        ran = jobs.run_due()
        if ran:
            self._send()

    def run_once(self) -> PassReport:
        """One pass over what is in the mailbox, then the outbox (no scheduled jobs).

        Raises SourceError when the mailbox cannot be reached.
        """
        source = self.app.connect()
        try:
            report = self.app.ingest(source, self.stopper).run_pass(self.progress)
        finally:
            source.close()
        self._send()
        return report

    def run_forever(self) -> None:
        """Sync, wait, repeat; reconnect with backoff; return when a signal asks."""
        with self.stopper.installed():
            self._run_jobs(self._jobs)
            while not self.stopper.requested:
                try:
                    self._session()
                except (SourceError, StoreError, OSError) as exc:
                    self.liveness.failed(str(exc))
                    delay = self.backoff.next_delay()
                    log.warning("mailbox connection lost (%s); retrying in %.0f s", exc, delay)
                    self.stopper.wait(functools.partial(self.sleep, delay))
        log.info("stopped")

    def _session(self) -> None:
        source = self.app.connect()
        try:
            self.backoff.reset()
            while not self.stopper.requested:
                # Mail that arrives during a pass is announced in responses
                # imapclient does not keep, not by the next IDLE: pass again
                # until a pass finds nothing new, then wait.
                while self._pass(source) and not self.stopper.requested:
                    pass
                self.scheduler.run_pending()
                self._wait(source)
        finally:
            source.close()

    def _send(self) -> None:
        sent = self.last_drain = self.app.send_queued()
        if sent.sent or sent.failed or sent.stopped:
            log.info(
                "outbox: %d sent, %d to retry, %d failed%s",
                sent.sent,
                sent.retried,
                sent.failed,
                f"; stopped: {sent.stopped}" if sent.stopped else "",
            )

    def _pass(self, source: MailSource) -> int:
        """One ingest pass, then the outbox; returns how many messages it saw."""
        report = self.app.ingest(source, self.stopper).run_pass(self.progress)
        self._skipped = report.skipped
        self.liveness.succeeded()
        self._send()
        if report.seen:
            log.info(
                "pass: %d seen, %d filed, %d quarantined, %d duplicates, %d to retry",
                report.seen,
                report.filed,
                report.quarantined,
                report.duplicates,
                report.failed,
            )
        return report.seen

    def _wait(self, source: MailSource) -> None:
        imap = self.app.settings.imap
        timeout = min(imap.idle_seconds, imap.reconcile_seconds)
        if self._skipped:  # another daemon holds the mailbox: look again soon
            timeout = min(timeout, LOCKED_RETRY_SECONDS)
        until_job = self.scheduler.idle_seconds
        if until_job is not None:
            timeout = max(min(timeout, until_job + 1), 1)
        self.stopper.wait(lambda: source.idle_wait(timeout))
