"""Scheduled jobs: the daily digest, the monthly reminders, and the 19th.

Which job is due is decided by :func:`mailbot.core.schedule.due`; each run is
recorded in ``job_runs`` by ``(job, period)`` before it starts, and every
mail it makes is an outbox row with a deterministic Message-ID, so a job run
twice (a restart, a catch-up, two daemons) sends nothing twice. This module
reads the store, calls the pure builders and queues the results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from mailbot.app.facts import VN
from mailbot.app.purge import purge
from mailbot.app.wiring import App
from mailbot.core.compose import Outgoing, compose
from mailbot.core.digest import Item, build_digest, groups_to_remind, month_label
from mailbot.core.forward import ForwardItem, forward_mail, split_attachments
from mailbot.core.model import Mail
from mailbot.core.monthly import (
    ArticleFact,
    FeedbackFact,
    GroupInfo,
    MediaFact,
    MonthlyInput,
    ReportModel,
    SchoolInfo,
    build_report,
    month_text,
    period_for,
)
from mailbot.core.parse import parse_message
from mailbot.core.schedule import Due, JobSpec, due
from mailbot.shell.docx_writer import write_report
from mailbot.shell.records import MessageRecord, OutboxItem

__all__ = ["Jobs", "job_specs"]

log = logging.getLogger("mailbot.jobs")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _hhmm(value: str) -> time:
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


def job_specs(app: App) -> tuple[JobSpec, ...]:
    """The three jobs with the configured days and times (Vietnam's time)."""
    sch = app.settings.schedule
    return (
        JobSpec("digest", "day", _hhmm(sch.digest_time), catch_up=timedelta(hours=12)),
        JobSpec(
            "reminders",
            "month",
            time(8, 0),
            day=sch.reminder_day,
            catch_up=timedelta(days=max(sch.report_day - sch.reminder_day - 1, 0)),
        ),
        JobSpec("retention", "day", time(2, 0), catch_up=timedelta(days=1)),
        JobSpec(
            "monthly-report",
            "month",
            _hhmm(sch.report_time),
            day=sch.report_day,
            catch_up=timedelta(days=10),
        ),
    )


@dataclass
class Jobs:
    """Runs due jobs against one :class:`App`."""

    app: App

    def run_due(self) -> list[str]:
        """Run every job that is due now; return ``job/period`` of each that ran."""
        now = self.app.clock.now()
        done = frozenset(
            (self.app.unscoped(r.job), r.period)
            for r in self.app.store.all_runs()
            if r.state == "done" and self.app.owns_job(r.job)
        )
        return [
            f"{job.job}/{job.period}"
            for job in due(job_specs(self.app), now, done)
            if self.run(job)
        ]

    def run(self, job: Due) -> bool:
        """Run one job for its period, once; False when it already ran or is running."""
        store, now = self.app.store, self.app.clock.now()
        name = self.app.job_name(job.job)
        if not store.start_job(name, job.period, now):
            return False
        action: Callable[[str], str] = {
            "digest": self.digest,
            "reminders": self.reminders,
            "monthly-report": self.monthly,
            "retention": self.retention,
        }[job.job]
        try:
            detail = action(job.period)
        except Exception as exc:
            store.finish_job(name, job.period, "failed", self.app.clock.now(), str(exc)[:500])
            log.exception("job %s/%s failed", job.job, job.period)
            return False
        store.finish_job(name, job.period, "done", self.app.clock.now(), detail)
        log.info("job %s/%s: %s", job.job, job.period, detail)
        return True

    def retention(self, period: str) -> str:
        """Erase personal records older than the retention period (see ``app.purge``)."""
        report = purge(self.app)
        return f"{report.records} records erased, {report.files} files deleted"

    # --- the digest -----------------------------------------------------------

    def digest(self, period: str) -> str:
        """The principal's daily digest; nothing when nothing is new (unless configured)."""
        now = self.app.clock.now()
        local = now.astimezone(VN)
        month_start = datetime(local.year, local.month, 1, tzinfo=VN)
        failures = self.app.store.counts().outbox_by_state.get("failed", 0)
        digest = build_digest(
            self._items(),
            self.app.rules.groups.values(),
            now=now,
            month_start=month_start,
            last_digest=now - timedelta(days=1),
            failures=failures,
        )
        if not digest.has_news and not self.app.settings.schedule.digest_when_empty:
            return "nothing new: not sent"
        out = Outgoing(
            purpose="digest",
            key=f"digest.{period}",
            to=self._leadership(),
            subject=f"Bản tin hộp thư truyền thông ngày {local:%d/%m/%Y}",
            template="digest",
            context={**self._common(), **digest.context},
            auto_submitted="auto-generated",
        )
        return f"sent to {len(out.to)}" if self._queue([out]) else "already queued"

    # --- reminders --------------------------------------------------------------

    def reminders(self, period: str) -> str:
        """One polite reminder to each group that owes this month's article and has none."""
        year, month = (int(x) for x in period.split("-"))
        month_start = datetime(year, month, 1, tzinfo=VN)
        groups = groups_to_remind(self._items(), self.app.rules.groups.values(), month_start)
        outs = [o for g in groups if (o := self._reminder(g.code, g.name, year, month))]
        self._queue(outs)
        return f"reminded {', '.join(g.code for g in groups) or 'nobody'}"

    def _reminder(self, code: str, name: str, year: int, month: int) -> Outgoing | None:
        members = tuple(p.address for p in self.app.rules.staff.values() if p.group == code)
        if not members:
            return None
        context = {
            **self._common(),
            "group_name": name,
            "year": year,
            "month": month,
            "month_label": month_label(month, year),
            "today": self.app.clock.now(),
            "deadline_day": self.app.settings.schedule.report_day,
        }
        return Outgoing(
            purpose="reminder",
            key=f"reminder.{code}.{year:04d}-{month:02d}",
            to=members,
            subject=f"Nhắc gửi tin, bài {month_label(month, year)} – {name}",
            template="reminder",
            context=context,
            auto_submitted="auto-generated",
        )

    # --- the 19th ---------------------------------------------------------------

    def monthly(self, period: str) -> str:
        """Forward the approved articles, build the report, mail it to the leadership."""
        year, month = (int(x) for x in period.split("-"))
        forwarded = self.forward(year, month)
        model, path = self.report(year, month)
        self._queue([self._report_mail(model, path, year, month)])
        opinion = self._opinion_mail(year, month)
        if opinion is not None:
            self._queue([opinion])
        return f"forwarded {forwarded}; report {path.name}"

    def forward(self, year: int, month: int, *, dry_run: bool = False) -> int:
        """Each approved article of the period not yet forwarded: one mail to the department."""
        _, end = self._period(year, month)
        records = self._period_records(year, month)
        # An article approved after its period's 19th goes with the next batch.
        approved = [r for r in self._records() if _local_date(r) <= end]
        chosen = self._articles_to_forward(approved) + self._media_to_forward(records)
        if dry_run:
            return len(chosen)
        for record, to in chosen:
            self._forward_one(record, to)
        return len(chosen)

    def _articles_to_forward(self, records: list[MessageRecord]) -> list[tuple[MessageRecord, str]]:
        dept = self.app.rules.routing.department
        return [
            (r, dept)
            for r in records
            if r.kind == "submission" and r.status == "approved" and r.forwarded_at is None
        ]

    def _media_to_forward(self, records: list[MessageRecord]) -> list[tuple[MessageRecord, str]]:
        cfg = self.app.settings.report
        media = [r for r in records if r.kind == "media" and r.status != "rejected"]
        if not cfg.media_to or any(r.forwarded_at for r in media):
            return []
        best = sorted(media, key=lambda r: (r.status != "approved", -self._files(r), r.id))
        return [(r, cfg.media_to) for r in best[: cfg.media_count]]

    def _files(self, record: MessageRecord) -> int:
        return sum(1 for a in self.app.store.attachments(record.id) if a.stored_path)

    def _forward_one(self, record: MessageRecord, to: str) -> None:
        mail = self._mail(record)
        office = self.app.rules.routing.offices.get(record.topics[0]) if record.topics else None
        item = ForwardItem(
            ref=record.ref or "",
            kind=record.kind or "submission",
            topic=record.topics[0] if record.topics else None,
            author=record.sender_name or record.sender_addr or "",
            author_addr=record.sender_addr,
        )
        cc = (office,) if office and office != to and record.kind == "submission" else ()
        out = forward_mail(
            item,
            mail,
            school=self.app.settings.school_name,
            mailbox=self.app.settings.mailbox,
            department=self.app.settings.report.department_name,
            to=to,
            cc=cc,
            limit=self.app.settings.report.max_forward_bytes,
        )
        self._queue([out])
        self.app.store.mark_forwarded(record.id, self.app.clock.now())

    def report(self, year: int, month: int, out: Path | None = None) -> tuple[ReportModel, Path]:
        """Build and write the month's .docx report; return the model and the file."""
        start, end = self._period(year, month)
        records = self._period_records(year, month)
        model = build_report(self._monthly_input(records, start, end, year, month))
        target = (
            out or self.app.settings.store_dir / "reports" / f"bao-cao-{year:04d}-{month:02d}.docx"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        return model, write_report(model, target)

    def _monthly_input(
        self, records: list[MessageRecord], start: date, end: date, year: int, month: int
    ) -> MonthlyInput:
        r = self.app.settings.report
        school = SchoolInfo(
            governing_body=r.governing_body,
            school_name=r.school_upper,
            name_in_text=self.app.settings.school_name,
            symbol=r.symbol,
            place=r.place,
            signer_title=r.signer_title,
            signer_name=r.signer_name,
            recipients=r.recipients,
        )
        groups = tuple(
            GroupInfo(g.code, g.name, g.owes_article) for g in self.app.rules.groups.values()
        )
        return MonthlyInput(
            period_start=start,
            period_end=end,
            report_date=self.app.clock.now().astimezone(VN).date(),
            month=month,
            year=year,
            school=school,
            groups=groups,
            topic_titles={t.numeral: t.title for t in self.app.rules.topics},
            articles=tuple(self._article(x) for x in records if x.kind == "submission"),
            media=tuple(self._media(x) for x in records if x.kind == "media"),
            feedback=tuple(_feedback(x) for x in records if x.kind == "feedback"),
        )

    def _article(self, r: MessageRecord) -> ArticleFact:
        approval = r.status if r.status in ("approved", "rejected") else "pending"
        mail = self._mail(r)
        _, left_out = split_attachments(
            mail.attachments, self.app.settings.report.max_forward_bytes
        )
        return ArticleFact(
            ref=r.ref or "",
            date=_local_date(r),
            title=r.subject or "",
            author=r.sender_name or r.sender_addr or "",
            group_code=r.group,
            topic=r.topics[0] if r.topics else None,
            approval=approval,  # type: ignore[arg-type]
            forwarded=r.forwarded_at is not None,
            attachments_left_out=left_out,
        )

    def _media(self, r: MessageRecord) -> MediaFact:
        return MediaFact(
            ref=r.ref or "",
            date=_local_date(r),
            title=r.subject or "",
            author=r.sender_name or r.sender_addr or "",
            group_code=r.group,
            topic=r.topics[0] if r.topics else None,
            count_files=self._files(r),
        )

    def _report_mail(self, model: ReportModel, path: Path, year: int, month: int) -> Outgoing:
        start, end = self._period(year, month)
        counts = self._counts(year, month)
        context = {
            **self._common(),
            "month_text": f"tháng {month_text(month)} năm {year}",
            "start": start,
            "end": end,
            "filename": path.name,
            "counts": counts,
            "missing": counts["missing"],
        }
        return Outgoing(
            purpose="report",
            key=f"report.{year:04d}-{month:02d}",
            to=self._leadership(),
            subject=f"Báo cáo kết quả thông tin, tuyên truyền tháng {month_text(month)} năm {year}",
            template="monthly_report",
            context=context,
            auto_submitted="auto-generated",
            attachments=((path.name, DOCX, path.read_bytes()),),
        )

    def _counts(self, year: int, month: int) -> dict[str, object]:
        records = self._period_records(year, month)
        arts = [r for r in records if r.kind == "submission"]
        fb = [r for r in records if r.kind == "feedback"]
        sent = {r.group for r in arts if r.status != "rejected"}
        return {
            "articles": len(arts),
            "approved": sum(r.status == "approved" for r in arts),
            "forwarded": sum(r.forwarded_at is not None for r in arts),
            "media": sum(r.kind == "media" for r in records),
            "feedback": len(fb),
            "handled": sum(r.status == "handled" for r in fb),
            "urgent": sum(bool(r.urgent) for r in fb),
            "missing": [
                g.name
                for g in self.app.rules.groups.values()
                if g.owes_article and g.code not in sent
            ],
        }

    def _opinion_mail(self, year: int, month: int) -> Outgoing | None:
        to = self.app.settings.report.opinion_to
        if not to:
            return None
        start, end = self._period(year, month)
        feedback = [_feedback(r) for r in self._period_records(year, month) if r.kind == "feedback"]
        context = {
            **self._common(),
            "month_text": f"tháng {month_text(month)} năm {year}",
            "department": self.app.settings.report.department_name,
            "start": start,
            "end": end,
            "feedback": feedback,
            "handled": sum(f.state == "handled" for f in feedback),
        }
        return Outgoing(
            purpose="opinion",
            key=f"opinion.{year:04d}-{month:02d}",
            to=(to,),
            subject=f"[{self.app.settings.school_name}] Tổng hợp ý kiến dư luận tháng "
            f"{month_text(month)} năm {year}",
            template="opinion_summary",
            context=context,
            auto_submitted="auto-generated",
        )

    # --- shared -----------------------------------------------------------------

    def _period(self, year: int, month: int) -> tuple[date, date]:
        return period_for(month, year, self.app.settings.report.period_start_day)

    def _period_records(self, year: int, month: int) -> list[MessageRecord]:
        """This mailbox's records dated within the month's report period."""
        start, end = self._period(year, month)
        return [r for r in self._records() if _in_period(r, start, end)]

    def _records(self) -> list[MessageRecord]:
        kinds = ("submission", "media", "feedback")
        return self.app.store.records(kinds=kinds, mailbox=self.app.mailbox_key)

    def _items(self) -> list[Item]:
        return [_item(r) for r in self._records()]

    def _mail(self, record: MessageRecord) -> Mail:
        raw = self.app.blobs.read_raw(record.raw_path) if record.raw_path else b""
        parsed = parse_message(raw)
        if not isinstance(parsed, Mail):
            raise ValueError(f"stored message of {record.ref} cannot be read: {parsed.reason}")
        return parsed

    def _leadership(self) -> tuple[str, ...]:
        return tuple(p.address for p in self.app.rules.staff.values() if p.role == "leadership")

    def _common(self) -> dict[str, object]:
        s = self.app.settings
        return {"school": s.school_name, "mailbox": s.mailbox, "now": self.app.clock.now()}

    def _queue(self, outs: list[Outgoing]) -> int:
        ctx = self.app.reply_context()
        now = self.app.clock.now()
        composed = [compose(o, ctx.identity, self.app.templates, now) for o in outs]
        items = [OutboxItem(c.message_id, c.purpose, c.recipients, c.raw) for c in composed]
        return self.app.store.enqueue(items, now) if items else 0


def _received(r: MessageRecord) -> datetime:
    return r.date if r.date is not None and r.date <= r.created_at else r.created_at


def _local_date(r: MessageRecord) -> date:
    return _received(r).astimezone(VN).date()


def _in_period(r: MessageRecord, start: date, end: date) -> bool:
    return start <= _local_date(r) <= end


def _item(r: MessageRecord) -> Item:
    return Item(
        ref=r.ref or "",
        kind=r.kind or "",
        title=r.subject or "",
        sender=r.sender_name or r.sender_addr or "",
        group=r.group,
        topic=r.topics[0] if r.topics else None,
        status=r.status,
        urgent=bool(r.urgent),
        received=_received(r),
    )


def _feedback(r: MessageRecord) -> FeedbackFact:
    return FeedbackFact(
        ref=r.ref or "",
        date=_local_date(r),
        title=r.subject or "",
        role=r.role or "unknown",
        topic=r.topics[0] if r.topics else None,
        urgent=bool(r.urgent),
        state="handled" if r.status == "handled" else "open",
        handling=r.note,
    )
