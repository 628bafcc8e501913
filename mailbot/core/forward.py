"""The 19th's outgoing mail: one approved article per mail to the department.

The department's office counts the mails that reach its address, one mail,
one article, for the school's yearly ranking; so each article goes alone,
with its text and attachments, titled ``[<school>] <title>``. Attachments
beyond the size limit are left out and named, in the mail and in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.core.compose import Outgoing
from mailbot.core.model import Attachment, Mail

__all__ = ["ForwardItem", "article_title", "forward_mail", "split_attachments"]

_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|tl|trả lời|chuyển tiếp)\s*:\s*)+", re.IGNORECASE)
_ARTICLE_PREFIX = re.compile(
    r"^\s*\[?\s*(gửi\s+)?(tin\s+bài|bài\s+tin|bài\s+viết|tin|bài)\s*\]?\s*:\s*", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ForwardItem:
    """What the job knows of one article to forward."""

    ref: str
    kind: str
    topic: str | None
    author: str
    author_addr: str | None


def article_title(mail: Mail) -> str:
    """The article's title: the Word file's first line, else the cleaned subject."""
    for att in mail.attachments:
        first = next((line.strip() for line in att.text.splitlines() if line.strip()), "")
        if first and len(first) <= 200:
            return first
    subject = _REPLY_PREFIX.sub("", mail.subject)
    return _ARTICLE_PREFIX.sub("", subject).strip() or mail.subject.strip()


def split_attachments(
    attachments: tuple[Attachment, ...], limit: int
) -> tuple[tuple[Attachment, ...], tuple[str, ...]]:
    """Keep attachments in order while their total fits ``limit``; name the rest."""
    kept: list[Attachment] = []
    left_out: list[str] = []
    total = 0
    for att in attachments:
        if att.skipped or not att.payload or total + att.size > limit:
            left_out.append(att.name)
            continue
        kept.append(att)
        total += att.size
    return tuple(kept), tuple(left_out)


def forward_mail(
    item: ForwardItem,
    mail: Mail,
    *,
    school: str,
    mailbox: str,
    department: str,
    to: str,
    cc: tuple[str, ...],
    limit: int,
) -> Outgoing:
    """One article, one mail: From the school, Reply-To the author, auto-generated."""
    kept, left_out = split_attachments(mail.attachments, limit)
    title = article_title(mail)
    context = {
        "school": school,
        "mailbox": mailbox,
        "department": department,
        "title": title,
        "ref": item.ref,
        "author": item.author,
        "text": mail.text.strip(),
        "left_out": list(left_out),
        "kind_label": "tư liệu ảnh, video" if item.kind == "media" else "tin, bài",
    }
    return Outgoing(
        purpose="forward",
        key=f"forward.{item.ref}",
        to=(to, *cc),
        subject=f"[{school}] {title}",
        template="forward",
        context=context,
        auto_submitted="auto-generated",
        reply_to=item.author_addr,
        attachments=tuple((a.name, a.content_type, a.payload) for a in kept),
    )
