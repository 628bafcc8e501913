"""Turn a decided reply into the exact bytes that will be sent.

Every outgoing mail is marked as automatic and threaded (RELIABILITY rule 3,
RFC 3834 §3.1.5-3.1.7): ``Auto-Submitted``, ``In-Reply-To`` and an extended
``References``, ``X-Auto-Response-Suppress: All`` (honoured by Exchange
auto-responders), our own loop header, and a deterministic ``Message-ID`` in
our own domain, derived from the decision's natural key, so the same decision
always yields the same message and a resend is recognisable (RFC 5322 §3.6.4).
Text echoed from incoming mail is stripped of line breaks before it reaches a
header (CVE-2024-6923: a newline in an encoded Subject became a header).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any, Literal, Protocol

from mailbot.core.replies import LOOP_HEADER, MESSAGE_ID_PREFIX

__all__ = [
    "Composed",
    "Identity",
    "Outgoing",
    "Renderer",
    "compose",
    "header_text",
    "message_id",
    "reply_subject",
]

AutoSubmitted = Literal["auto-replied", "auto-generated"]
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_KEY_SAFE = re.compile(r"[^A-Za-z0-9.\-]")
_POLICY = SMTP.clone(max_line_length=998)
_REPLY_PREFIXES = re.compile(r"^\s*((re|tl|trả lời|aw|sv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


class Renderer(Protocol):
    """Renders a mail template to (text, html); see ``mailbot.templates.Templates``."""

    def render(self, name: str, context: Mapping[str, Any]) -> tuple[str, str]: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the service writes as."""

    address: str
    display_name: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One mail the core decided to send; ``key`` names the decision uniquely."""

    purpose: str
    key: str
    to: tuple[str, ...]
    subject: str
    template: str
    context: Mapping[str, Any]
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: AutoSubmitted = "auto-replied"
    reply_to: str | None = None
    attachments: tuple[tuple[str, str, bytes], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Composed:
    """The bytes to send, their Message-ID and the envelope recipients."""

    message_id: str
    purpose: str
    recipients: tuple[str, ...]
    raw: bytes


def header_text(value: str, limit: int = 200) -> str:
    """Text safe for a header: no control characters or line breaks, bounded length."""
    cleaned = " ".join(_UNSAFE.sub(" ", value).split())
    return cleaned[:limit]


def reply_subject(subject: str, ref: str | None = None) -> str:
    """``Re: <subject> [<ref>]``, without stacking ``Re:`` or repeating the ref."""
    base = _REPLY_PREFIXES.sub("", header_text(subject)) or "(không tiêu đề)"
    base = f"Re: {base}"
    return f"{base} [{ref}]" if ref and ref not in base else base


def message_id(key: str, identity: Identity) -> str:
    """The deterministic Message-ID of a decision: ``<key@our-domain>``."""
    return f"<{MESSAGE_ID_PREFIX}{_KEY_SAFE.sub('-', key)[:180]}@{identity.domain}>"


def compose(out: Outgoing, identity: Identity, renderer: Renderer, now: datetime) -> Composed:
    """Render ``out`` and build its RFC 5322 message."""
    text, html = renderer.render(out.template, out.context)
    msg = EmailMessage(policy=_POLICY)
    mid = message_id(out.key, identity)
    for name, value in _headers(out, identity, now, mid):
        msg[name] = value
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    for name, mime, data in out.attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    msg["Content-Language"] = "vi"  # after set_content, which drops Content-* headers
    return Composed(mid, out.purpose, out.to, msg.as_bytes())


def _headers(out: Outgoing, identity: Identity, now: datetime, mid: str) -> list[tuple[str, str]]:
    headers = [
        ("From", formataddr((identity.display_name, identity.address))),
        ("To", ", ".join(out.to)),
        ("Subject", header_text(out.subject, 250)),
        ("Date", format_datetime(now)),
        ("Message-ID", mid),
        ("Auto-Submitted", out.auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
        (LOOP_HEADER, identity.address),
    ]
    if out.in_reply_to:
        headers.append(("In-Reply-To", header_text(out.in_reply_to, 998)))
    refs = [*out.references, *([out.in_reply_to] if out.in_reply_to else [])]
    if refs:
        headers.append(("References", header_text(" ".join(dict.fromkeys(refs)), 998)))
    if out.reply_to:
        headers.append(("Reply-To", header_text(out.reply_to)))
    return headers
