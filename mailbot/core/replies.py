"""Whether a message may be answered automatically (RFC 3834), as a named verdict.

An acknowledgement is a receipt for one article or one piece of feedback,
so a teacher who sends three articles gets three. But nothing automatic is
ever answered, nor anything that might start a loop: the checks below run in
order and the first that fires says why not. Rate caps stop a robot that
ignores every header (RELIABILITY case 5): per sender per hour, and for the
whole mailbox per day, which protects the sending quota.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mailbot.core.model import Classification, Mail

__all__ = [
    "LOOP_HEADER",
    "MESSAGE_ID_PREFIX",
    "ReplyFacts",
    "ReplyPolicy",
    "ReplyVerdict",
    "reply_verdict",
]

LOOP_HEADER = "X-Mailbot-Loop"
MESSAGE_ID_PREFIX = "mailbot."
_SILENT_KINDS = frozenset({"auto", "directive", "other"})


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    """The service's own identity and the caps, from config."""

    own_addresses: frozenset[str]
    own_domain: str
    per_sender_per_hour: int = 3
    global_per_day: int = 300
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What the store knows about earlier replies, read before deciding."""

    sender_last_hour: int = 0
    mailbox_today: int = 0


@dataclass(frozen=True, slots=True)
class ReplyVerdict:
    """``allowed`` or not, and the name of the check that decided."""

    allowed: bool
    reason: str


Check = Callable[[Mail, Classification, ReplyPolicy, ReplyFacts], str | None]


def _automatic(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    return "automatic mail (RFC 3834)" if cls.automatic else None


def _unverified(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    return "sender not verified (dmarc=fail or no single From)" if not cls.verified else None


def _kind(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    return f"kind {cls.kind} is never acknowledged" if cls.kind in _SILENT_KINDS else None


def _own_address(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    addr = mail.sender.addr if mail.sender else ""
    return "sent by the service's own address" if addr in p.own_addresses else None


def _loop(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    if mail.header(LOOP_HEADER) is not None:
        return f"carries our {LOOP_HEADER} header"
    mid = mail.message_id.lower()
    if mid.startswith("<" + MESSAGE_ID_PREFIX) and mid.endswith("@" + p.own_domain + ">"):
        return "has one of our own Message-IDs"
    return None


def _before_since(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    if p.since is None or mail.date is None or mail.date >= p.since:
        return None
    return f"arrived before replies.since ({p.since:%Y-%m-%d %H:%M})"


def _sender_cap(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    if f.sender_last_hour < p.per_sender_per_hour:
        return None
    return f"sender already had {f.sender_last_hour} replies in the last hour (a loop?)"


def _mailbox_cap(mail: Mail, cls: Classification, p: ReplyPolicy, f: ReplyFacts) -> str | None:
    if f.mailbox_today < p.global_per_day:
        return None
    return f"the mailbox sent {f.mailbox_today} replies today (daily cap)"


CHECKS: tuple[tuple[str, Check], ...] = (
    ("automatic", _automatic),
    ("unverified", _unverified),
    ("kind", _kind),
    ("own-address", _own_address),
    ("loop", _loop),
    ("before-since", _before_since),
    ("sender-cap", _sender_cap),
    ("mailbox-cap", _mailbox_cap),
)


def reply_verdict(
    mail: Mail, cls: Classification, policy: ReplyPolicy, facts: ReplyFacts
) -> ReplyVerdict:
    """May ``mail`` be answered? The first check that objects names the reason."""
    for name, check in CHECKS:
        why = check(mail, cls, policy, facts)
        if why is not None:
            return ReplyVerdict(False, f"{name}: {why}")
    return ReplyVerdict(True, "ok")
