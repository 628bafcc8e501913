"""Personal data: delete what the retention period or a person's request says must go.

Vietnam's Law on Personal Data Protection (91/2025/QH15, in force from
1 January 2026, replacing Decree 13/2023/NĐ-CP) asks for a stated purpose,
minimal data, a fixed retention period and deletion on request. Parents'
messages are kept ``retention_days`` (default one year, a school year and a
reporting cycle); then their raw mail and attachments are deleted and the
record is anonymised, keeping only what the monthly counts need. A person's
request (``--address``) erases everything from that address at once.
Each purge is recorded in ``job_runs`` as an audit entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from mailbot.app.wiring import App
from mailbot.shell.records import MessageRecord

__all__ = ["PurgeReport", "purge"]

log = logging.getLogger("mailbot.purge")
PERSONAL_ROLES = ("parent", "student", "unknown")


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """How many records were anonymised and files deleted."""

    records: int
    files: int


def purge(app: App, *, address: str | None = None, dry_run: bool = False) -> PurgeReport:
    """Anonymise old personal records (or every record from ``address``) and delete their files."""
    now = app.clock.now()
    if address:
        records = app.store.personal_records(sender=address.lower(), mailbox=app.mailbox_key)
    else:
        before = now - timedelta(days=app.settings.retention_days)
        records = app.store.personal_records(
            roles=PERSONAL_ROLES, before=before, mailbox=app.mailbox_key
        )
    if dry_run or not records:
        return PurgeReport(len(records), 0)
    files = sum(_delete_files(app, r, records) for r in records)
    app.store.anonymise([r.id for r in records], address.lower() if address else None, now)
    what = f"address {address}" if address else f"older than {app.settings.retention_days} days"
    period = f"{now:%Y-%m-%dT%H:%M:%S}"
    job = app.job_name("purge")
    if app.store.start_job(job, period, now):
        app.store.finish_job(job, period, "done", now, f"{len(records)} records ({what})")
    log.info("purged %d records and %d files (%s)", len(records), files, what)
    return PurgeReport(len(records), files)


def _delete_files(app: App, record: MessageRecord, purged: list[MessageRecord]) -> int:
    files = app.blobs.remove_attachments(record.id)
    if record.raw_path and not _shared(app, record, purged):
        files += app.blobs.remove(record.raw_path)
    return files


def _shared(app: App, record: MessageRecord, purged: list[MessageRecord]) -> bool:
    """Identical bytes share one raw file; keep it while a record outside the purge uses it."""
    leaving = {r.id for r in purged}
    others = [r for r in app.store.find_by_message_id(record.message_id) if r.id not in leaving]
    return any(r.raw_path == record.raw_path for r in others)
