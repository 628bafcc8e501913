"""Raw RFC 5322 bytes to a frozen :class:`~mailbot.core.model.Mail`, never raising.

The message becomes the standard library's ``email`` tree in its ``compat32``
policy: the very parser and tree mail-parser 4.8 builds on. Measured over the
48-message corpus, ``mailparser.parse_from_bytes`` takes about 100 ms, of
which that parse is 40 ms; the rest builds results (JSON dicts, re-encoded
attachments, Received analysis) that are not used here, and
``policy.default`` would take 170 ms. A regular message's tree is built in
bulk to the same result (:mod:`mailbot.core.mimetree`), long base64 bodies
are read from the raw bytes (:mod:`mailbot.core.bigbodies`), and anything
else goes through the feed parser. The tree is then walked, iteratively and
within :class:`Limits`, to collect the body text, attachments and new text.
Headers are decoded here (RFC 2047, raw 8-bit), the sender is parsed strictly
(:mod:`mailbot.core.addresses`) and only the top-level
``Authentication-Results`` count (RFC 8601; an attached message's own are
not ours). Any failure becomes :class:`~mailbot.core.model.Unparseable`.

Pure: no I/O, no clock, no logging, no module state but a memo of address lists.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.feedparser import BytesFeedParser
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32, compat32
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from mailbot.core.addresses import SenderResult, parse_sender, recipients
from mailbot.core.authres import parse_auth_results
from mailbot.core.bigbodies import BlobPart, cut, decoded, link, restored, unlink
from mailbot.core.decoding import (
    decode_bytes,
    decode_words,
    header_text,
    multiline_text,
    one_line,
    unfold,
    unsurrogate,
)
from mailbot.core.docx_text import docx_text, is_docx
from mailbot.core.filenames import safe_filename
from mailbot.core.html_text import html_to_text
from mailbot.core.mimetree import MAX_CHARS, build
from mailbot.core.model import Address, Attachment, AuthResult, Mail, Unparseable
from mailbot.core.quotes import is_forward_subject, new_text

__all__ = ["DEFAULT_LIMITS", "Limits", "parse_message"]

_MSG_ID = re.compile(r"<[^<>\s]+>")
_BLANK_LINE = re.compile(rb"\n\r?\n")  # the end of a header block, either line ending
_MAX_DEFECTS = 50
_CHUNK = 64 * 1024
_MAX_DEFECT_CHARS = 160
_MEMO_ADDRESS_CHARS = 1000
_BODY_TYPES = ("text/plain", "text/html")
# Parser defects meaning a header line was not filed as a header (" From:", "From :").
_FROM_LINE = re.compile(rb"^from[ \t]*:", re.IGNORECASE | re.MULTILINE)
_MISFILED = frozenset({"MisplacedEnvelopeHeaderDefect", "FirstHeaderLineIsContinuationDefect"})
_REPORT_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "text/rfc822-headers": "returned-headers.txt",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on hostile input (RELIABILITY rule 9, case 21)."""

    max_message_bytes: int = 40 * 1024 * 1024
    max_attachment_bytes: int = 20 * 1024 * 1024
    max_parts: int = 500
    max_depth: int = 20
    max_docx_text_chars: int = 200_000
    max_header_bytes: int = 256 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class _Found:
    """What the walk collects; private and local to one call."""

    limits: Limits
    texts: list[str] = field(default_factory=list)
    relayed: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    parts: int = 0


# One pending node of the walk: (part, depth, relayed = inside an attached message).
_Node = tuple[Message, int, bool]


def parse_message(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Mail | Unparseable:
    """Parse one message; every failure is returned as ``Unparseable``, never raised."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        return _parse(raw, digest, limits)
    except Exception as exc:  # the contract: poison input is quarantined, not raised
        return Unparseable(digest, _short(f"{type(exc).__name__}: {exc}"))


def _short(text: str) -> str:
    """A one-line reason or defect, bounded, never empty."""
    return one_line(text)[:_MAX_DEFECT_CHARS] or "error"


def _header_block_size(raw: bytes, limit: int) -> int:
    """Bytes before the first empty line (RFC 5322 section 2.1), searched up to ``limit``."""
    blank = _BLANK_LINE.search(raw, 0, limit)
    return blank.start() if blank else min(len(raw), limit + 1)


def _oversize(raw: bytes, limits: Limits) -> str | None:
    """Why the raw message is refused before parsing (RELIABILITY case 21), or None."""
    if len(raw) > limits.max_message_bytes:
        return f"too large: {len(raw)} bytes > {limits.max_message_bytes}"
    if _header_block_size(raw, limits.max_header_bytes + 4) > limits.max_header_bytes:
        return f"header block larger than {limits.max_header_bytes} bytes"
    return None


def _parse(raw: bytes, digest: str, limits: Limits) -> Mail | Unparseable:
    """The work of parse_message, free to raise: the caller turns errors into Unparseable."""
    problem = _oversize(raw, limits)
    if problem is not None:
        return Unparseable(digest, problem)
    message, complete, defects = _load(raw, digest, limits)
    headers = _raw_headers(message)
    sender = _sender(message, headers, raw[: _header_block_size(raw, limits.max_header_bytes)])
    found = _Found(limits, defects=[*defects, *sender.notes])
    if complete:
        _walk(message, found)
    source = _Source(raw, digest, message, headers)
    return _assemble(source, sender, found)


def _feed(raw: bytes, digest: str) -> Message:
    """``message_from_bytes`` without its whole-message text copy.

    The stdlib decodes the bytes to one str and wraps it in a StringIO (four
    bytes a character for non-ASCII text), which multiplies a 25 MB message's
    memory; feeding the same parser in chunks builds the same tree, and long
    encoded bodies skip it altogether (:mod:`mailbot.core.bigbodies`). A
    short, regular text is not fed at all: the same tree is built in bulk
    (:mod:`mailbot.core.mimetree`).
    """
    pieces, runs = cut(raw, digest)
    built = _built(pieces)
    message = built if built is not None else _fed(pieces)
    link(message, runs, digest)
    return message


def _fed(pieces: list[memoryview | bytes]) -> Message:
    """The feed parser's tree, fed in bounded chunks."""
    parser = BytesFeedParser(_factory=BlobPart, policy=compat32)
    for piece in pieces:
        for start in range(0, len(piece), _CHUNK):
            parser.feed(bytes(piece[start : start + _CHUNK]))
    return parser.close()


def _built(pieces: list[memoryview | bytes]) -> BlobPart | None:
    """The tree built in bulk, or None when the feed parser must build it."""
    if sum(len(piece) for piece in pieces) > MAX_CHARS:
        return None
    return build(b"".join(pieces).decode("ascii", "surrogateescape"))


def _load(raw: bytes, digest: str, limits: Limits) -> tuple[Message, bool, list[str]]:
    """The message tree, whether its body was parsed, and load defects.

    A message with far more MIME boundaries than ``max_parts`` allows, or one
    nested too deep for Python's recursive parser, keeps its headers only.
    """
    if raw.count(b"\n--") > 4 * limits.max_parts + 100:
        return (
            _headers_only(raw),
            False,
            [f"too many parts (> {limits.max_parts}): body not parsed"],
        )
    try:
        return _feed(raw, digest), True, []
    except RecursionError:
        return _headers_only(raw), False, ["nesting too deep: body not parsed"]
    except Exception as exc:  # a parser bug must not lose the headers
        return _headers_only(raw), False, [_short(f"body not parsed: {type(exc).__name__}")]


def _headers_only(raw: bytes) -> Message:
    """The header block alone: the fallback when the body cannot be parsed safely."""
    return BytesParser(policy=compat32).parsebytes(raw, headersonly=True)


@dataclass(frozen=True, slots=True)
class _RawHeaders:
    """Top-level header fields: (lower-case name, raw value) in order, and by name."""

    items: list[tuple[str, str]]
    index: dict[str, list[str]]
    odd_from: bool

    def first(self, name: str) -> str | None:
        """The first raw value of field ``name`` (lower-case), or None."""
        values = self.index.get(name)
        return values[0] if values else None


def _raw_headers(message: Message) -> _RawHeaders:
    """Index the top-level fields once; note a From name with white space around it."""
    items: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    odd_from = False
    for name, value in message.raw_items():
        if not isinstance(value, str):
            continue
        key = name.strip().lower()
        odd_from = odd_from or (key == "from" and key != name.lower())
        items.append((key, value))
        index.setdefault(key, []).append(value)
    return _RawHeaders(items, index, odd_from)


def _sender(message: Message, headers: _RawHeaders, block: bytes) -> SenderResult:
    """The strict sender; a From line the parser did not file as From makes it ambiguous.

    ``block`` is the raw header block: it must hold exactly as many lines
    starting ``From:`` (any case, optional blanks before the colon) as the
    parser found From fields, else some reader may see another sender.
    """
    values = headers.index.get("from", [])
    misfiled = any(type(defect).__name__ in _MISFILED for defect in message.defects)
    miscounted = len(_FROM_LINE.findall(block)) != len(values)
    return parse_sender(values, ambiguous=headers.odd_from or misfiled or miscounted)


# --- the walk -----------------------------------------------------------------


def _walk(message: Message, found: _Found) -> None:
    """Depth-first, iterative, in document order, within max_parts and max_depth."""
    limits = found.limits
    stack: list[_Node] = [(message, 0, False)]
    while stack:
        node = stack.pop()
        found.parts += 1
        if found.parts > limits.max_parts:
            found.defects.append(f"too many parts: stopped after {limits.max_parts}")
            return
        if node[1] > limits.max_depth:
            _note(found, f"too deep: parts below depth {limits.max_depth} skipped")
            continue
        try:
            children = _visit(node, found)
        except Exception as exc:  # one broken part must not lose the others
            found.defects.append(_short(f"part {found.parts}: {type(exc).__name__}"))
            continue
        stack.extend(reversed(children))


def _note(found: _Found, defect: str) -> None:
    """Record a defect once, however many parts show it."""
    if defect not in found.defects:
        found.defects.append(defect)


def _visit(node: _Node, found: _Found) -> list[_Node]:
    """Handle one part; return the children still to walk."""
    part, _depth, relayed = node
    for defect in part.defects:
        _note(found, type(defect).__name__)
    ctype = part.get_content_type()
    payload = part.get_payload()
    if isinstance(payload, list):
        subparts = [sub for sub in payload if isinstance(sub, Message)]
        return _container(node, ctype, subparts, found)
    if _is_body_text(part, ctype):
        target = found.relayed if relayed else found.texts
        target.append(_part_text(part, ctype))
    else:
        found.attachments.append(_attachment(part, ctype, found.limits))
    return []


def _container(node: _Node, ctype: str, subparts: list[Message], found: _Found) -> list[_Node]:
    """Children of a multipart (RFC 2046 section 5.1) or an attached message."""
    part, depth, relayed = node
    limits = found.limits
    if ctype == "multipart/alternative":
        chosen = _choose_alternative(subparts)
        return [(chosen, depth + 1, relayed)] if chosen is not None else []
    if ctype == "multipart/report":
        # RFC 6522: the first part is for people; the rest is machine report.
        for other in subparts[1:]:
            found.attachments.append(_attachment(other, other.get_content_type(), limits))
        return [(sub, depth + 1, relayed) for sub in subparts[:1]]
    if ctype.startswith("message/"):
        found.attachments.append(_attachment(part, ctype, limits))
        return [(sub, depth + 1, True) for sub in subparts]
    return [(sub, depth + 1, relayed) for sub in subparts]


def _choose_alternative(subparts: list[Message]) -> Message | None:
    """Plain text first (it is what the writer typed), then a nested multipart, then HTML."""
    for wanted in ("text/plain", "multipart/", "text/html"):
        for sub in subparts:
            if sub.get_content_type().startswith(wanted):
                return sub
    return subparts[-1] if subparts else None


def _is_body_text(part: Message, ctype: str) -> bool:
    """Inline text/plain or text/html without a file name (RFC 2183) is body text."""
    if ctype.startswith("multipart/"):
        return True  # a multipart whose boundary is missing: its text is all there is
    if ctype not in _BODY_TYPES:
        return False
    disposition = part.get_content_disposition()
    if disposition is None:
        return True
    return disposition == "inline" and not part.get_filename()


def _payload_bytes(part: Message) -> bytes:
    """The decoded content (base64 / quoted-printable undone) of a leaf part.

    Base64 (RFC 2045 section 6.8) is decoded directly: ``a2b_base64`` skips
    line breaks itself, saving the stdlib's split-and-join of every line.
    """
    payload = part.get_payload()
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if isinstance(part, BlobPart) and part.blob is not None:
        try:
            return decoded(part.blob)
        except binascii.Error:  # bad padding: the stdlib's lenient way, on the text
            unlink(part)
            payload = part.get_payload()
    if cte == "base64" and isinstance(payload, str) and payload.isascii():
        try:
            return binascii.a2b_base64(payload)  # an ASCII str is accepted as is: no copy
        except binascii.Error:
            pass  # bad padding: let the stdlib recover what it can
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _content_params(part: Message) -> dict[str, str]:
    """Content-Type parameters (RFC 2045 section 5.1, RFC 2231 values collapsed), lower-cased."""
    params = part.get_params(failobj=[], header="content-type") or []
    return {
        str(key).lower(): str(collapse_rfc2231_value(value)).strip().lower()
        for key, value in params
    }


def _part_text(part: Message, ctype: str) -> str:
    """Decoded, NFC text of a body part; HTML converted, format=flowed joined."""
    params = _content_params(part)
    text = decode_bytes(_payload_bytes(part), params.get("charset"))
    if ctype == "text/html":
        return multiline_text(html_to_text(text))
    if params.get("format") == "flowed":
        text = _unflow(text.replace("\r\n", "\n"), params.get("delsp", ""))
    return multiline_text(text).strip()


def _unflow(text: str, delsp: str) -> str:
    """Join RFC 3676 soft line breaks (a trailing space), keeping the ``-- `` line."""
    out: list[str] = []
    carry = ""
    for piece in text.split("\n"):
        line = carry + piece
        if line.endswith(" ") and line != "-- " and not line.startswith(">"):
            carry = line[:-1] if delsp == "yes" else line
            continue
        out.append(line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


# --- attachments --------------------------------------------------------------


def _raw_filename(part: Message) -> str:
    """Content-Disposition filename or Content-Type name: RFC 2231 then RFC 2047 decoded."""
    name = part.get_filename()
    if not isinstance(name, str):
        return ""
    return decode_words(unsurrogate(name))


class _AsRead(Compat32):
    """``compat32`` writing each header field as it was read, not folded again.

    Folding again (``email.header.Header``) took most of the time of
    serialising an attached message, and changed its fields: re-wrapped
    lines, 8-bit text turned into encoded words. Line breaks inside a field
    become the generator's ``\\n``, like every other line it writes.
    """

    def fold_binary(self, name: str, value: Any) -> bytes:
        """``name: value`` and a line break, the value's own bytes kept."""
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        text = f"{name}: {value}".replace("\r\n", "\n") + self.linesep
        return text.encode("ascii", "surrogateescape")


_AS_READ = _AsRead()


def _content_bytes(part: Message, ctype: str) -> bytes:
    """An attachment's bytes: an attached message is serialised again (RFC 2046 section 5.2.1)."""
    if ctype.startswith("message/") or part.is_multipart():
        subparts = [sub for sub in part.get_payload() if isinstance(sub, Message)]
        return restored(b"".join(sub.as_bytes(policy=_AS_READ) for sub in subparts), part)
    return _payload_bytes(part)


def _attachment(part: Message, ctype: str, limits: Limits) -> Attachment:
    """An attachment: safe name, decoded bytes (or skipped when too large), .docx text."""
    raw_name = _raw_filename(part) or _REPORT_NAMES.get(ctype, "")
    name = safe_filename(raw_name, ctype)
    disposition = part.get_content_disposition()
    inline = disposition == "inline" or (
        disposition is None and ctype.startswith("image/") and part.get("content-id") is not None
    )
    payload = _content_bytes(part, ctype)
    if len(payload) > limits.max_attachment_bytes:
        skipped = f"too large: {len(payload)} bytes > {limits.max_attachment_bytes}"
        return Attachment(name, ctype, len(payload), b"", inline=inline, skipped=skipped)
    text = docx_text(payload, limits.max_docx_text_chars) if is_docx(name, ctype, payload) else ""
    return Attachment(name, ctype, len(payload), payload, text=text, inline=inline)


# --- headers ------------------------------------------------------------------


def _message_id(headers: _RawHeaders, digest: str) -> str:
    """The Message-ID as written (angle brackets kept), else ``<sha256@mailbot.invalid>``."""
    raw = headers.first("message-id")
    value = header_text(raw).replace(" ", "") if raw is not None else ""
    return value[:998] if value else f"<{digest}@mailbot.invalid>"


def _ids(raw: str | None) -> tuple[str, ...]:
    """The ``<msg-id>`` tokens of In-Reply-To / References (RFC 5322 section 3.6.4)."""
    if raw is None:
        return ()
    return tuple(_MSG_ID.findall(one_line(unfold(unsurrogate(raw)))))[:100]


def _date(raw: str | None) -> datetime | None:
    """The Date header as an aware datetime (RFC 5322 section 3.3); ``-0000`` is UTC."""
    if raw is None:
        return None
    try:
        value = parsedate_to_datetime(one_line(unfold(unsurrogate(raw))))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_Recipients = tuple[tuple[Address, ...], tuple[str, ...]]


def _recipients(values: tuple[str, ...]) -> _Recipients:
    """The addresses of an address-list header (RFC 5322 section 3.4), and the entries dropped.

    Memoised for short lists: most mail is sent to the same few addresses,
    and the stdlib's address parser is slow; a long list is not kept.
    """
    if sum(len(value) for value in values) > _MEMO_ADDRESS_CHARS:
        return _read_recipients(values)
    return _memo_recipients(values)


def _read_recipients(values: tuple[str, ...]) -> _Recipients:
    """What :func:`_recipients` returns, read afresh.

    Split on the raw value, so an encoded word can only ever be a name; the
    names are decoded afterwards (RFC 2047 section 5).
    """
    unfolded = [unfold(unsurrogate(value)) for value in values]
    return recipients([(decode_words(name), addr) for name, addr in getaddresses(unfolded)])


_memo_recipients = lru_cache(maxsize=256)(_read_recipients)


def _auth(headers: _RawHeaders) -> tuple[AuthResult, ...]:
    """Top-level Authentication-Results, topmost first (RFC 8601 section 1.2)."""
    found = headers.index.get("authentication-results", [])
    return tuple(parse_auth_results(value) for value in found)


# --- assembly -----------------------------------------------------------------


def _texts(found: _Found, subject: str) -> tuple[str, str, bool]:
    """(body, text, forwarded): relayed messages' text is appended to both."""
    main = "\n\n".join(t for t in found.texts if t.strip())
    relayed = "\n\n".join(t for t in found.relayed if t.strip())
    extract = new_text(main, forward=is_forward_subject(subject))
    relayed_new = new_text(relayed).text if relayed else ""
    body = "\n\n".join(t for t in (main, relayed) if t)
    text = "\n\n".join(t for t in (extract.text, relayed_new) if t)
    return body, text or body, extract.forwarded


@dataclass(frozen=True, slots=True)
class _Source:
    """The input and its parse, handed to assembly in one piece."""

    raw: bytes
    digest: str
    message: Message
    headers: _RawHeaders


def _assemble(source: _Source, sender: SenderResult, found: _Found) -> Mail:
    """Build the frozen Mail from the headers and what the walk found."""
    raw, digest, headers = source.raw, source.digest, source.headers
    to, bad_to = _recipients(tuple(headers.index.get("to", ())))
    cc, bad_cc = _recipients(tuple(headers.index.get("cc", ())))
    decoded = tuple((name, header_text(value)) for name, value in headers.items)
    subject = next((value for name, value in decoded if name == "subject"), "")
    body, text, forwarded = _texts(found, subject)
    defects = found.defects + [f"invalid recipient address: {a}" for a in (*bad_to, *bad_cc)]
    return Mail(
        sha256=digest,
        message_id=_message_id(headers, digest),
        sender=sender.address,
        subject=subject,
        text=text,
        body=body,
        to=to,
        cc=cc,
        date=_date(headers.first("date")),
        in_reply_to=next(iter(_ids(headers.first("in-reply-to"))), None),
        references=_ids(headers.first("references")),
        attachments=tuple(found.attachments),
        headers=decoded,
        auth=_auth(headers),
        content_type=source.message.get_content_type(),
        size=len(raw),
        sender_problem=sender.problem,
        forwarded=forwarded,
        defects=tuple(_short(d) for d in defects[:_MAX_DEFECTS]),
    )
