"""Large encoded bodies kept out of the stdlib parser, read from the raw bytes instead.

The ``email`` feed parser splits every body into lines, holds them in a list
(one str object of ~50 bytes overhead per 76-byte line) and joins them into
one more str: a 25 MB message with an 18 MB attachment costs it some 90 MB.
So before parsing a large message, each long run of base64-alphabet lines
that makes up a whole part body (RFC 2045 section 6.8: lines of at most 76
characters from a 65-character alphabet) is replaced by one marker line, and
the part whose payload is that marker later decodes its content straight from
a ``memoryview`` of the raw bytes. Bodies that are not such a run (text,
quoted-printable with spaces, anything ambiguous) go through the parser as
before; the result is the same tree either way.

The marker carries the message's own SHA-256, which its sender cannot write
into it, so a crafted marker in a message is only text.

Pure: no I/O, no module state.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from email.message import Message

__all__ = ["BlobPart", "cut", "decoded", "link", "restored"]

# Only messages this large are scanned, and only runs this long are cut out.
MIN_MESSAGE_BYTES = 1024 * 1024
MIN_RUN_BYTES = 256 * 1024

_BLANK = re.compile(rb"\n\r?\n")
_STOP = re.compile(rb"[^A-Za-z0-9+/=\r\n]|\n\r?\n")


class BlobPart(Message):
    """A ``Message`` that may hold its body as a view of the raw bytes (``blob``)."""

    blob: memoryview | None = None
    marker: bytes = b""


def cut(raw: bytes, nonce: str) -> tuple[list[memoryview | bytes], list[memoryview]]:
    """The pieces to feed the parser (raw with long runs replaced by markers) and the runs.

    A run is cut only when it is a whole body: after the blank line ending a
    part's header block, and followed by a boundary line (``--``), blank
    lines before one, or the end of the message.
    """
    view = memoryview(raw)
    if len(raw) < MIN_MESSAGE_BYTES:
        return [view], []
    pieces: list[memoryview | bytes] = []
    runs: list[memoryview] = []
    start = 0
    for begin, end in _whole_bodies(raw):
        pieces.append(view[start:begin])
        pieces.append(_marker(nonce, len(runs)))
        runs.append(view[begin:end])
        start = end
    pieces.append(view[start:])
    return pieces, runs


def _whole_bodies(raw: bytes) -> Iterator[tuple[int, int]]:
    """Spans of long alphabet-only runs, each from a blank line to a boundary or the end.

    Two regular-expression searches per blank line, none holding state per
    line: a repeated group would keep a backtracking entry for every line.
    """
    pos = 0
    while (blank := _BLANK.search(raw, pos)) is not None:
        begin = blank.end()
        stop = _STOP.search(raw, begin)
        if stop is None:
            end = len(raw)
        elif stop.group().startswith(b"\n"):
            end = stop.start() + 1  # the run's last line break, before the blank line
        else:
            end = stop.start()
        if end - begin >= MIN_RUN_BYTES and raw.endswith(b"\n", 0, end) and _ends_body(raw, end):
            yield begin, end
        pos = max(end, begin)


def link(message: Message, runs: list[memoryview], nonce: str) -> None:
    """Give each part whose payload is a marker its run from the raw bytes, as ``blob``."""
    if not runs:
        return
    for part in message.walk():
        payload = part.get_payload()
        if not isinstance(part, BlobPart) or not isinstance(payload, str):
            continue
        index = _index(payload.strip(), nonce)
        if index is not None and index < len(runs):
            part.blob, part.marker = runs[index], _marker(nonce, index)


def decoded(blob: memoryview, cte: str) -> bytes:
    """The content of a cut-out body, by its Content-Transfer-Encoding (RFC 2045 section 6)."""
    if cte == "base64":
        return binascii.a2b_base64(blob)  # skips the line breaks; reads the view, no copy
    if cte == "quoted-printable":
        return binascii.a2b_qp(blob)
    return bytes(blob)


def restored(serialised: bytes, part: Message) -> bytes:
    """An attached message serialised again, its markers replaced by the original runs.

    Line breaks are written as ``\\n``, as the generator writes every other line.
    """
    for sub in part.walk():
        if isinstance(sub, BlobPart) and sub.blob is not None:
            body = bytes(sub.blob).replace(b"\r\n", b"\n")
            if sub.marker in serialised:
                serialised = serialised.replace(sub.marker, body, 1)
            else:
                serialised = serialised.replace(sub.marker.rstrip(b"\n"), body.rstrip(b"\n"), 1)
    return serialised


def _ends_body(raw: bytes, end: int) -> bool:
    """Whether only line breaks stand between ``end`` and a boundary line or the end."""
    rest = raw[end : end + 4096].lstrip(b"\r\n")
    return rest == b"" or rest.startswith(b"--")


def _marker(nonce: str, index: int) -> bytes:
    return f"mailbot-body-{nonce}-{index}\n".encode("ascii")


def _index(text: str, nonce: str) -> int | None:
    prefix = f"mailbot-body-{nonce}-"
    if not text.startswith(prefix) or not text[len(prefix) :].isdigit():
        return None
    return int(text[len(prefix) :])
