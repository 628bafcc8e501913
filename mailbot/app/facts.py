"""Read from the store what one decision needs to know (``core.decide.Facts``).

This is the only place the ingest pipeline asks the database questions about
earlier mail: the thread a reply belongs to, the records its commands or
subject name, how many receipts its sender already had, and the next free
reference number. The answers are plain values; the decision stays pure.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.core.approvals import parse_commands
from mailbot.core.decide import Facts, Link
from mailbot.core.model import Classification, Mail
from mailbot.core.refs import find_refs, prefix_for
from mailbot.core.replies import ReplyFacts, ReplyPolicy, reply_verdict
from mailbot.shell.records import MessageRecord
from mailbot.shell.store import Store

__all__ = ["gather_facts", "link"]

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def link(record: MessageRecord | None) -> Link | None:
    """A store record as the decision sees it."""
    if record is None:
        return None
    return Link(
        record_id=record.id,
        ref=record.ref,
        kind=record.kind,
        sender=record.sender_addr,
        sender_name=record.sender_name,
        subject=record.subject,
        message_id=record.message_id,
        status=record.status,
        role=record.role,
    )


def gather_facts(
    store: Store, mail: Mail, cls: Classification, now: datetime, policy: ReplyPolicy
) -> Facts:
    """Everything :func:`mailbot.core.decide.decide` needs from the database.

    Receipts are counted only as far as ``policy``'s caps: past them the
    answer is the same; and only for a message that could get one (a new
    record that passes every other check of ``reply_verdict``).
    """
    sender = mail.sender.addr if mail.sender else ""
    thread = (
        [mail.in_reply_to, *reversed(mail.references)]
        if mail.in_reply_to
        else list(reversed(mail.references))
    )
    subject_refs = find_refs(mail.subject)
    around = mail.date if mail.date is not None and mail.date <= now else now
    new_ref = _new_ref(store, cls, mail, now)
    replies = ReplyFacts()
    if sender and new_ref is not None and reply_verdict(mail, cls, policy, replies).allowed:
        caps = (policy.per_sender_per_hour, policy.global_per_day)
        sender_hour, mailbox_day = store.reply_counts(sender, around, now, caps)
        replies = ReplyFacts(sender_last_hour=sender_hour, mailbox_today=mailbox_day)
    return Facts(
        now=now,
        new_ref=new_ref,
        reply=replies,
        parent=link(store.thread_root([m for m in thread if m])),
        subject_ref=link(store.by_ref(subject_refs[0])) if subject_refs else None,
        targets=_targets(store, mail, cls),
    )


def _new_ref(store: Store, cls: Classification, mail: Mail, now: datetime) -> str | None:
    prefix = prefix_for(cls.kind)
    if prefix is None:
        return None
    when = mail.date if mail.date is not None and mail.date <= now else now
    local = when.astimezone(VN)
    return store.next_ref(prefix, local.year, local.month)


def _targets(store: Store, mail: Mail, cls: Classification) -> dict[str, Link]:
    if cls.role != "leadership":
        return {}
    refs = {c.ref for c in parse_commands(mail.text) if c.ref}
    found = {ref: link(store.by_ref(ref)) for ref in refs}
    return {ref: lk for ref, lk in found.items() if lk is not None}
