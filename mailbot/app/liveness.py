"""Tell people when the mailbox stops working, and when it works again.

A daemon that cannot log in (an expired token, a changed password) or whose
syncing stalls fails silently unless someone is told. When the mailbox has
been unreachable for ``after`` (default 15 minutes), the IT person and the
leadership get one alert by SMTP; when a pass succeeds again, one
"recovered" mail. Each episode is recorded in ``job_runs`` (job
``mailbox-down``, period = when it began), so a restart in the middle of an
outage neither repeats the alert nor forgets to send the recovery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.app.wiring import App
from mailbot.core.compose import Outgoing, compose
from mailbot.shell.records import OutboxItem

__all__ = ["Liveness"]

log = logging.getLogger("mailbot.liveness")
JOB = "mailbot-down"


@dataclass
class Liveness:
    """Watches the outcome of each session attempt; queues alert and recovery mails."""

    app: App
    after: timedelta = timedelta(minutes=15)
    failing_since: datetime | None = None

    def failed(self, error: str) -> None:
        """A connection or login failed; alert once when it has lasted ``after``."""
        now = self.app.clock.now()
        self.failing_since = self.failing_since or self._open_episode() or now
        if now - self.failing_since < self.after:
            return
        period = self.failing_since.isoformat(timespec="seconds")
        if self.app.store.start_job(self._job, period, now, stale=timedelta(days=3650)):
            self._queue("down", period, error, now)
            log.error("mailbox unreachable since %s: alert queued (%s)", period, error)

    @property
    def _job(self) -> str:
        return self.app.job_name(JOB)

    def _open_episode(self) -> datetime | None:
        """An outage already alerted before a restart: keep counting from its start."""
        runs = [r for r in self.app.store.all_runs() if r.job == self._job and r.state == "running"]
        return datetime.fromisoformat(runs[-1].period) if runs else None

    def succeeded(self) -> None:
        """A pass worked: close an open episode with one recovery mail."""
        self.failing_since = None
        open_runs = [
            r for r in self.app.store.all_runs() if r.job == self._job and r.state == "running"
        ]
        now = self.app.clock.now()
        for run in open_runs:
            self._queue("up", run.period, "", now)
            self.app.store.finish_job(self._job, run.period, "done", now, "recovered")
            log.info("mailbox reachable again (down since %s): recovery mail queued", run.period)

    def _queue(self, what: str, period: str, error: str, now: datetime) -> None:
        s = self.app.settings
        people = [
            p.address for p in self.app.rules.staff.values() if p.role in ("it", "leadership")
        ]
        subject = (
            f"[{s.school_name}] mailbot không truy cập được hộp thư {s.mailbox}"
            if what == "down"
            else f"[{s.school_name}] mailbot đã truy cập lại được hộp thư {s.mailbox}"
        )
        out = Outgoing(
            purpose=f"liveness-{what}",
            key=f"liveness.{what}.{period}",
            to=tuple(people),
            subject=subject,
            template="liveness",
            context={
                "school": s.school_name,
                "mailbox": s.mailbox,
                "now": now,
                "down": what == "down",
                "since": datetime.fromisoformat(period),
                "error": error,
            },
            auto_submitted="auto-generated",
        )
        ctx = self.app.reply_context()
        c = compose(out, ctx.identity, self.app.templates, now)
        self.app.store.enqueue([OutboxItem(c.message_id, c.purpose, c.recipients, c.raw)], now)
        self.app.send_queued()
