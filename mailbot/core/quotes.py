"""The new text of a reply or forward: quoted history and signatures removed.

Mail clients mark quoted history in a few ways, Vietnamese and English:

* Gmail / Apple attribution lines, often wrapped over two or three lines:
  ``Vào Th 2, 12 thg 1, 2026 vào lúc 08:15 Nguyễn … <x@y> đã viết:``,
  ``Vào 9 thg 3, 2026, lúc 14:05, … đã viết:``, ``On … wrote:``;
* ``>``-prefixed lines (RFC 3676 section 4.5), removed wherever they stand
  so that interleaved answers survive;
* Outlook: ``-----Original Message-----`` / ``-----Thư gốc-----``, a line of
  underscores followed by ``From:``/``Từ:``, or a bare header block
  (``From:`` … ``Sent:`` / ``Từ:`` … ``Đã gửi:``).

A forward (``---------- Forwarded message ---------``, ``Thư đã chuyển
tiếp``, ``Begin forwarded message:``) is different: what was forwarded is
the point of the message, so it is kept (after its header block) and the
result is flagged ``forwarded``. Signatures end at a ``-- `` line (RFC 3676
section 4.3) or a client line such as "Sent from my iPhone" / "Được gửi từ
iPhone của tôi".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Extract", "is_forward_subject", "is_reply_subject", "new_text"]

_ATTRIBUTION_START = re.compile(r"\s*(?:vào|on|lúc)\b", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"(?:đã viết|wrote)\s*:?\s*$", re.IGNORECASE)
_ATTRIBUTION_MAX_CHARS = 400
_ORIGINAL = re.compile(
    r"\s*-{3,}\s*(?:original message|thư gốc|tin nhắn gốc|thư ban đầu)\s*-{3,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"\s*_{10,}\s*$")
_HEADER_FROM = re.compile(r"\s*\*?(?:from|từ|người gửi)\s*:", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"\s*\*?(?:sent|date|đã gửi|ngày gửi|ngày|gửi lúc|thời gian)\s*:", re.IGNORECASE
)
_FORWARD = re.compile(
    r"\s*(?:-{3,}\s*(?:forwarded message|thư đã chuyển tiếp|thư chuyển tiếp"
    r"|tin nhắn đã chuyển tiếp)\s*-{3,}|begin forwarded message:"
    r"|bắt đầu thư được chuyển tiếp:)\s*$",
    re.IGNORECASE,
)
_MOBILE_SIGNATURE = re.compile(
    r"\s*(?:sent from|sent with|get outlook for|được gửi từ|gửi từ|gởi từ)\b.{0,50}"
    r"\b(?:iphone|ipad|android|điện thoại|di động|outlook|yahoo|samsung|galaxy|mail"
    r"|thiết bị)\b.{0,40}$",
    re.IGNORECASE,
)
# Outlook marks a forward only in the subject (FW:, Vietnamese CT: for chuyển tiếp);
# its body has the same From/Sent block as a reply.
_FORWARD_SUBJECT = re.compile(r"\s*(?:fw|fwd|ct)\s*:", re.IGNORECASE)
# Re:, and the Vietnamese (TL: trả lời), German and Scandinavian clients' prefixes.
_REPLY_SUBJECT = re.compile(r"\s*(?:re|tl|trả lời|aw|sv)\s*:", re.IGNORECASE)
# First letters of every marker above, lower-cased, for the cheap pre-check.
_QUOTE_STARTS = ("-", "_", "vào", "on", "lúc", "from", "từ", "người gửi", "begin", "bắt đầu")
_SIGNATURE_STARTS = ("sent ", "get outlook", "được gửi", "gửi từ", "gởi từ")
_HEADER_LINE = re.compile(r"\s*\*?[^\s:][^:]{0,24}:")
_LOOKAHEAD = 4


@dataclass(frozen=True, slots=True)
class Extract:
    """The new text, and whether the message forwards another one."""

    text: str
    forwarded: bool = False


def _is_attribution(lines: list[str], index: int) -> bool:
    """An attribution line, possibly wrapped over up to three lines."""
    if not _ATTRIBUTION_START.match(lines[index]):
        return False
    joined = ""
    for line in lines[index : index + 3]:
        joined = f"{joined} {line.strip()}"
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            return False
        if _ATTRIBUTION_END.search(joined):
            return True
    return False


def _next_lines(lines: list[str], index: int) -> list[str]:
    """The next few non-blank lines after ``index``."""
    following = (line for line in lines[index + 1 : index + 1 + 2 * _LOOKAHEAD] if line.strip())
    return list(following)[:_LOOKAHEAD]


def _is_outlook_block(lines: list[str], index: int) -> bool:
    """An Outlook quote start: separator, underscores then From, or a From/Sent block."""
    line = lines[index]
    if _ORIGINAL.match(line):
        return True
    if _UNDERSCORES.match(line):
        return any(_HEADER_FROM.match(nxt) for nxt in _next_lines(lines, index)[:2])
    if _HEADER_FROM.match(line):
        return any(_HEADER_SENT.match(nxt) for nxt in _next_lines(lines, index))
    return False


def _find_cut(lines: list[str], *, forward: bool = False) -> tuple[int, bool] | None:
    """The first line where quoted history or a forward starts: (index, is_forward).

    With ``forward`` (the subject forwards), an Outlook header block starts a forward.
    """
    for index, line in enumerate(lines):
        if not line or line[0] == ">" or not _may_start_quote(line):
            continue
        if _FORWARD.match(line):
            return index, True
        if _is_outlook_block(lines, index):
            return index, forward
        if _is_attribution(lines, index):
            return index, False
    return None


def _may_start_quote(line: str) -> bool:
    """Cheap pre-check (no regular expression) before the marker patterns."""
    return line.lstrip(" *\t")[:10].lower().startswith(_QUOTE_STARTS)


def _is_signature_start(line: str) -> bool:
    """A ``--`` delimiter line (RFC 3676 section 4.3) or a mail client's signature line."""
    if line.rstrip() == "--":
        return True
    head = line.lstrip()[:12].lower()
    return head.startswith(_SIGNATURE_STARTS) and _MOBILE_SIGNATURE.match(line) is not None


def _without_signature(lines: list[str]) -> list[str]:
    """Lines before the first signature delimiter or client signature line."""
    for index, line in enumerate(lines):
        if _is_signature_start(line):
            return lines[:index]
    return lines


def _clean(lines: list[str]) -> str:
    """Drop quoted lines and the signature; trim blank lines."""
    kept = [line for line in lines if not line.startswith(">")]
    return "\n".join(_without_signature(kept)).strip()


def _forward_body(lines: list[str], start: int) -> list[str]:
    """The forwarded content: after the marker, skip the From/Date/Subject block."""
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    header_start = index
    while index < len(lines) and index - header_start < 12 and lines[index].strip():
        if not _HEADER_LINE.match(lines[index]) and index == header_start:
            return lines[header_start:]
        index += 1
    return lines[index:]


def _strip_replies(lines: list[str]) -> str:
    """Forwarded content without the replies quoted inside it."""
    cut = _find_cut(lines)
    return _clean(lines if cut is None else lines[: cut[0]])


def is_forward_subject(subject: str) -> bool:
    """True when the subject's outermost prefix forwards (``FW:``, ``Fwd:``, ``CT:``)."""
    return _FORWARD_SUBJECT.match(subject) is not None


def is_reply_subject(subject: str) -> bool:
    """True when the subject's outermost prefix answers (``Re:``, ``TL:``): the rest of it
    names the message answered."""
    return _REPLY_SUBJECT.match(subject) is not None


def new_text(body: str, *, forward: bool = False) -> Extract:
    """The text the writer typed, or the forwarded content for a forward.

    ``forward`` (the subject says so, see :func:`is_forward_subject`) makes an
    Outlook header block the start of forwarded content, not of quoted history.
    """
    lines = body.split("\n")
    cut = _find_cut(lines, forward=forward)
    if cut is None or not cut[1]:
        return Extract(_clean(lines if cut is None else lines[: cut[0]]))
    note = _clean(lines[: cut[0]])
    # A marker line is skipped; an Outlook block's From line is its header block's first.
    start = cut[0] if _HEADER_FROM.match(lines[cut[0]]) else cut[0] + 1
    forwarded = _strip_replies(_forward_body(lines, start))
    return Extract("\n\n".join(part for part in (note, forwarded) if part), forwarded=True)
