"""Decide what happens to one classified message: the plan the shell carries out.

The plan is plain data: the folder, whether a new record (with a reference
number) is opened or the message joins an earlier one, status changes that
the leadership's commands make, and the mails to send. Everything the
decision needs from the database arrives first as :class:`Facts`, so this
module stays pure and a test reads a plan without a server.

The order of the questions is data (:data:`STEPS`):

1. ``commands`` — a verified, authenticated leadership member's DUYỆT /
   KHÔNG DUYỆT / ĐÃ XỬ LÝ lines, or a bare "Duyệt" in an article's thread;
2. ``follow-up`` — the same sender writing again in a record's thread, or
   naming its reference in the subject: it joins that record, with no new
   receipt and no second alert (the leadership already has the case);
3. ``new-record`` — a new article, media item or piece of feedback gets a
   reference and, when RFC 3834 allows, an acknowledgement; urgent content
   alerts the leadership at once, whatever the acknowledgement verdict,
   except old mail met in a backlog (dated before ``replies.since``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mailbot.core.approvals import Command, parse_commands, thread_verdict
from mailbot.core.compose import Identity, Outgoing, reply_subject
from mailbot.core.model import Classification, Mail
from mailbot.core.refs import prefix_for
from mailbot.core.replies import ReplyFacts, ReplyPolicy, ReplyVerdict, reply_verdict
from mailbot.core.rules import RuleSet
from mailbot.core.trust import TrustPolicy, trusted_result

__all__ = [
    "Case",
    "Facts",
    "Link",
    "Plan",
    "ReplyContext",
    "StatusChange",
    "decide",
    "quarantine_plan",
]

_ROLE_LABELS = {
    "leadership": "Ban Giám hiệu",
    "it": "cán bộ CNTT",
    "teacher": "giáo viên",
    "staff": "nhân viên",
    "parent": "phụ huynh",
    "student": "học sinh",
    "department": "Sở GDĐT",
    "unknown": "chưa xác định",
}
_ADDRESS = {  # (salutation, pronoun) by role
    "parent": ("Kính gửi Quý phụ huynh", "quý phụ huynh"),
    "student": ("Chào em", "em"),
    "unknown": ("Kính gửi Quý vị", "quý vị"),
    "department": ("Kính gửi Quý Sở", "quý Sở"),
}
_KIND_LABELS = {"submission": "bài viết", "media": "tư liệu ảnh, video", "feedback": "ý kiến"}


@dataclass(frozen=True, slots=True)
class Link:
    """An earlier record, as the store found it (by thread, subject or command)."""

    record_id: int
    ref: str | None
    kind: str | None
    sender: str | None
    sender_name: str | None
    subject: str | None
    message_id: str
    status: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the store knew when this message was decided on."""

    now: datetime
    new_ref: str | None = None
    reply: ReplyFacts = field(default_factory=ReplyFacts)
    parent: Link | None = None
    subject_ref: Link | None = None
    targets: Mapping[str, Link] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """Settings the replies need: who we are, whom to tell, what to promise."""

    identity: Identity
    policy: ReplyPolicy
    trust: TrustPolicy
    school: str = "Trường THCS Pom Lót"
    handler: str = "Ban Giám hiệu nhà trường"
    answer_days: int = 5
    forward_day: int = 19
    alert_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A command's effect on an earlier record."""

    record_id: int
    ref: str
    status: str
    note: str
    by: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the message goes, what record it makes, what it changes and sends."""

    folder: str
    quarantine: str | None = None
    ref: str | None = None
    status: str | None = None
    join: int | None = None
    changes: tuple[StatusChange, ...] = ()
    replies: tuple[Outgoing, ...] = ()
    notes: tuple[str, ...] = ()


def quarantine_plan(reason: str, rules: RuleSet) -> Plan:
    """Send a message that could not be handled to the quarantine folder."""
    return Plan(folder=rules.routing.quarantine, quarantine=reason)


@dataclass(frozen=True, slots=True)
class Case:
    """Everything one decision reads."""

    mail: Mail
    cls: Classification
    rules: RuleSet
    facts: Facts
    ctx: ReplyContext


Step = Callable[[Case, Plan], Plan | None]


def decide(
    mail: Mail, cls: Classification, rules: RuleSet, facts: Facts, ctx: ReplyContext
) -> Plan:
    """The plan for ``mail``: the first step that claims it decides the rest."""
    base = Plan(folder=rules.folder_for(cls.kind, cls.group))
    case = Case(mail, cls, rules, facts, ctx)
    for step in STEPS:
        plan = step(case, base)
        if plan is not None:
            return plan
    return base


# --- commands ---------------------------------------------------------------


def _commands(case: Case, base: Plan) -> Plan | None:
    mail, cls, facts, ctx = case.mail, case.cls, case.facts, case.ctx
    if cls.role != "leadership" or not _authenticated(mail, ctx.trust):
        return None
    commands = parse_commands(mail.text) or _thread_command(mail, cls, facts)
    if not commands:
        return None
    sender = mail.sender.addr if mail.sender else ""
    results = [_apply(c, facts, sender, mail, ctx) for c in commands]
    changes = tuple(change for change, _, _ in results if change is not None)
    notices = tuple(n for _, _, n in results if n is not None)
    lines = [{"ok": change is not None, "text": text} for change, text, _ in results]
    result = _outgoing(
        case,
        "result",
        (sender,),
        subject=reply_subject(mail.subject),
        template="approval_result",
        context={**_you(cls.role), "results": lines},
    )
    folder = case.rules.folder_for("approval", cls.group)
    return replace(base, folder=folder, changes=changes, replies=(result, *notices))


def _authenticated(mail: Mail, trust: TrustPolicy) -> bool:
    """dmarc=pass at our own server; or no such header when the school trusts that."""
    result = trusted_result(mail, trust)
    if result is None:
        return trust.trust_unauthenticated
    return result.dmarc == "pass"


def _thread_command(mail: Mail, cls: Classification, facts: Facts) -> list[Command]:
    parent = facts.parent
    if cls.kind != "approval" or parent is None or parent.ref is None:
        return []
    if parent.kind not in ("submission", "media"):
        return []
    note = " ".join(mail.text.split())[:500]
    return [Command(thread_verdict(mail.text), parent.ref, note, mail.subject)]


def _apply(
    command: Command, facts: Facts, by: str, mail: Mail, ctx: ReplyContext
) -> tuple[StatusChange | None, str, Outgoing | None]:
    if command.ref is None:
        return (
            None,
            f"“{command.raw}”: số tham chiếu không đúng dạng (ví dụ: TB-2026-01-007).",
            None,
        )
    target = facts.targets.get(command.ref)
    if target is None and facts.parent is not None and facts.parent.ref == command.ref:
        target = facts.parent
    if target is None:
        return None, f"Không tìm thấy số {command.ref}; xin kiểm tra lại số tham chiếu.", None
    wrong = _wrong_kind(command, target)
    if wrong:
        return None, wrong, None
    status = {"approve": "approved", "reject": "rejected", "handled": "handled"}[command.action]
    change = StatusChange(target.record_id, command.ref, status, command.note, by)
    notice = _notice(command, target, mail, ctx, facts) if command.action != "handled" else None
    return change, _result_text(command, target), notice


def _notice(
    command: Command, target: Link, mail: Mail, ctx: ReplyContext, facts: Facts
) -> Outgoing | None:
    """Tell the author of an article what the leadership decided."""
    if not target.sender:
        return None
    context = {
        **_you(target.role or "teacher"),
        "approved": command.action == "approve",
        "ref": target.ref,
        "subject": target.subject or "",
        "note": command.note if command.action == "reject" else "",
        "kind_label": _KIND_LABELS.get(target.kind or "", "bài viết"),
        "forward_day": ctx.forward_day,
    }
    return Outgoing(
        purpose="notice",
        key=f"notice.{target.ref}.{command.action}.{mail.sha256[:12]}",
        to=(target.sender,),
        subject=reply_subject(target.subject or "", target.ref),
        template="author_notice",
        context={"school": ctx.school, "mailbox": ctx.identity.address, **context},
        auto_submitted="auto-generated",
    )


def _wrong_kind(command: Command, target: Link) -> str | None:
    is_feedback = target.kind == "feedback"
    if command.action == "handled" and not is_feedback:
        return f"Số {command.ref} là bài viết/tư liệu: dùng DUYỆT hoặc KHÔNG DUYỆT."
    if command.action != "handled" and is_feedback:
        return f"Số {command.ref} là phản ánh, góp ý: dùng ĐÃ XỬ LÝ {command.ref}: nội dung."
    return None


def _result_text(command: Command, target: Link) -> str:
    title = f"“{target.subject or ''}”"
    note = f": {command.note}" if command.note else ""
    if command.action == "approve":
        return f"Đã duyệt {command.ref} {title}; đã báo tác giả."
    if command.action == "reject":
        return f"Không duyệt {command.ref} {title}; đã báo tác giả{note}."
    return f"Đã ghi nhận xử lý {command.ref} {title}{note or ' (chưa ghi nội dung xử lý)'}."


# --- follow-ups -------------------------------------------------------------


def _follow_up(case: Case, base: Plan) -> Plan | None:
    mail, cls, facts = case.mail, case.cls, case.facts
    sender = mail.sender.addr if mail.sender else None
    if sender is None or not cls.verified or cls.automatic:
        return None
    for link in (facts.parent, facts.subject_ref):
        if link is not None and link.ref and link.sender == sender:
            note = f"follow-up of {link.ref}: joined, no new receipt"
            return replace(base, join=link.record_id, notes=(note,))
    return None


# --- new records ------------------------------------------------------------


def _new_record(case: Case, base: Plan) -> Plan | None:
    mail, cls, facts, ctx = case.mail, case.cls, case.facts, case.ctx
    prefix = prefix_for(cls.kind)
    if prefix is None or facts.new_ref is None:
        return None
    ref = facts.new_ref
    verdict = reply_verdict(mail, cls, ctx.policy, facts.reply)
    backlog = verdict.reason.startswith("before-since")
    replies = [] if backlog else list(_alerts(case, ref))
    if verdict.allowed and mail.sender is not None:
        replies.insert(0, _ack(case, ref))
    status = "open" if cls.kind == "feedback" else "pending"
    return replace(base, ref=ref, status=status, replies=tuple(replies), notes=(_why(verdict),))


def _why(verdict: ReplyVerdict) -> str:
    return "acknowledged" if verdict.allowed else f"no acknowledgement: {verdict.reason}"


def _ack(case: Case, ref: str) -> Outgoing:
    mail, cls, facts, ctx = case.mail, case.cls, case.facts, case.ctx
    sender = mail.sender.addr if mail.sender else ""
    context: dict[str, Any] = {
        **_you(cls.role),
        "subject": mail.subject or "(không tiêu đề)",
        "ref": ref,
        "received": _received(mail, facts),
        "kind_label": _KIND_LABELS.get(cls.kind, "thư"),
        "skipped": [a.name for a in mail.attachments if a.skipped],
        "forward_day": ctx.forward_day,
        "handler": ctx.handler,
        "days": ctx.answer_days,
        "urgent": cls.urgent and bool(ctx.alert_to),
    }
    template = "ack_feedback" if cls.kind == "feedback" else "ack_submission"
    return _outgoing(
        case,
        "ack",
        (sender,),
        subject=reply_subject(mail.subject, ref),
        template=template,
        context=context,
    )


def _alerts(case: Case, ref: str) -> tuple[Outgoing, ...]:
    mail, cls, facts, ctx = case.mail, case.cls, case.facts, case.ctx
    if not cls.urgent or not ctx.alert_to:
        return ()
    sender = mail.sender
    context = {
        "ref": ref,
        "kind_label": _KIND_LABELS.get(cls.kind, "thư"),
        "sender": f"{sender.name} <{sender.addr}>" if sender else "(không rõ)",
        "role_label": _ROLE_LABELS.get(cls.role, cls.role),
        "received": _received(mail, facts),
        "subject": mail.subject,
        "signals": ", ".join(cls.signals) or "nội dung khẩn",
        "excerpt": mail.text.strip()[:1500],
    }
    alert = _outgoing(
        case,
        "alert",
        ctx.alert_to,
        subject=f"[KHẨN] {ref} – {mail.subject}",
        template="alert",
        context=context,
        auto_submitted="auto-generated",
    )
    return (alert,)


def _outgoing(
    case: Case,
    purpose: str,
    to: tuple[str, ...],
    *,
    subject: str,
    template: str,
    context: Mapping[str, Any],
    auto_submitted: str = "auto-replied",
) -> Outgoing:
    """A mail caused by ``case``'s message, keyed by purpose and content.

    Only a reply to the sender (a receipt, a command's result) is threaded to
    the message; an alert to the leadership is a new conversation.
    """
    mail, ctx = case.mail, case.ctx
    common = {"school": ctx.school, "mailbox": ctx.identity.address, "now": case.facts.now}
    threaded = auto_submitted != "auto-generated"
    return Outgoing(
        purpose=purpose,
        key=f"{purpose}.{mail.sha256[:24]}",
        to=to,
        subject=subject,
        template=template,
        context={**common, **context},
        in_reply_to=mail.message_id if threaded else None,
        references=mail.references if threaded else (),
        auto_submitted="auto-replied" if threaded else "auto-generated",
    )


def _received(mail: Mail, facts: Facts) -> datetime:
    """When the message was sent, as its Date says, unless that lies in the future."""
    return mail.date if mail.date is not None and mail.date <= facts.now else facts.now


def _you(role: str) -> dict[str, str]:
    greeting, pronoun = _ADDRESS.get(role, ("Kính gửi thầy/cô", "thầy/cô"))
    return {"greeting": greeting, "you": pronoun}


STEPS: tuple[Step, ...] = (_commands, _follow_up, _new_record)
