"""Base64 bodies kept out of the stdlib parser, read from the raw bytes instead.

The ``email`` feed parser handles every body line by line in Python, holds
the lines in a list (one str object of ~50 bytes overhead per 76-byte line)
and joins them into one more str: that is most of its time on a message with
an attachment, and a 25 MB message with an 18 MB attachment costs it some
90 MB. So before parsing, each run of base64-alphabet lines that makes up a
whole part body, in a part whose header says base64 (RFC 2045 section 6.8),
is replaced by one marker line, and the part whose payload is that marker
later decodes its content straight from a ``memoryview`` of the raw bytes.

The result is the same ``Mail`` either way (a property test checks it on
mutated real messages): where the parser reads the message differently from
the cut (a broken header, a boundary gone missing), the markers it finds are
put back as the original text, and a body with bad padding goes the stdlib's
lenient way.

The marker carries the message's own SHA-256, which its sender cannot write
into it, so a crafted marker in a message is only text.

Pure: no I/O, no module state.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from email.message import Message

__all__ = ["BlobPart", "cut", "decoded", "link", "restored", "unlink"]

# Messages this large are scanned (all, by default: it pays from about 1 KB
# of base64), and runs this long are cut out.
MIN_MESSAGE_BYTES = 0
MIN_RUN_BYTES = 1024

_BLANK = re.compile(rb"\n\r?\n")
_RUN_END = re.compile(rb"\n(?:\r?\n|--)")  # a blank line or a boundary line next
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"
_BASE64_CTE = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*base64[ \t]*\r?$")


class BlobPart(Message):
    """A ``Message`` that may hold its body as a view of the raw bytes (``blob``)."""

    blob: memoryview | None = None
    marker: bytes = b""
    _payload: object  # the base class's storage, not declared in its stubs

    def stored_text(self) -> str:
        """The payload as the parser stored it: ``get_payload()`` replaces the
        undecodable bytes (kept as surrogates) when there is a charset."""
        text = self._payload
        return text if isinstance(text, str) else ""


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

    Each candidate runs from a blank line to the next blank line or boundary
    line, found by one search; ``bytes.translate`` then checks its alphabet:
    both at C speed and without state per line.
    """
    pos = 0
    while (blank := _BLANK.search(raw, pos)) is not None:
        begin = blank.end()
        stop = _RUN_END.search(raw, begin)
        end = stop.start() + 1 if stop else len(raw)  # the run keeps its last line break
        if (
            end - begin >= MIN_RUN_BYTES
            and raw.endswith(b"\n", 0, end)
            and _alphabet_only(raw, begin, end)
            and _ends_body(raw, end)
            and _base64_part(raw, blank.start())
        ):
            yield begin, end
            pos = end
        else:
            pos = begin  # the blank line that ended this candidate may start the next


def _alphabet_only(raw: bytes, begin: int, end: int) -> bool:
    """Whether ``raw[begin:end]`` is base64 alphabet and line breaks, read in bounded slices."""
    step = 64 * 1024
    return not any(
        raw[i : min(i + step, end)].translate(None, _ALPHABET) for i in range(begin, end, step)
    )


def link(message: Message, runs: list[memoryview], nonce: str) -> None:
    """Give each base64 part whose payload is one marker its run from the raw bytes
    (``blob``); any other payload holding markers gets its original text back.

    So where the parser saw the message differently from the cut (a broken
    header, a boundary gone missing), the result is what it would have been.
    """
    if not runs:
        return
    prefix = f"mailbot-body-{nonce}-"
    for part in message.walk():
        payload = part.get_payload()
        if not isinstance(part, BlobPart) or not isinstance(payload, str) or prefix not in payload:
            continue
        index = _index(payload.strip(), nonce)
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if index is not None and index < len(runs) and cte == "base64":
            part.blob, part.marker = runs[index], _marker(nonce, index)
        else:
            part.set_payload(_with_runs(part.stored_text(), runs, nonce))


def unlink(part: BlobPart) -> None:
    """Give ``part`` its original text back instead of its blob (a fallback)."""
    if part.blob is not None:
        text = bytes(part.blob).decode("ascii")
        part.set_payload(_without_last_break(text))
        part.blob, part.marker = None, b""


def _with_runs(payload: str, runs: list[memoryview], nonce: str) -> str:
    """``payload`` with every marker line replaced by the run it stood for.

    A run's last line break went with the marker; where the parser gave that
    break to the boundary after it, the run gives it up too.
    """
    for index, run in enumerate(runs):
        marker = _marker(nonce, index).decode("ascii")
        if marker[:-1] not in payload:
            continue
        text = bytes(run).decode("ascii")
        payload = payload.replace(marker, text)
        payload = payload.replace(marker[:-1], _without_last_break(text))
    return payload


def _without_last_break(text: str) -> str:
    """A run's text without its last line break (the parser gives it to the boundary)."""
    return text[:-2] if text.endswith("\r\n") else text[:-1]


def decoded(blob: memoryview) -> bytes:
    """The content of a cut-out body: only base64 bodies are cut (RFC 2045 section 6.8)."""
    return binascii.a2b_base64(blob)  # skips the line breaks; reads the view, no copy


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


def _base64_part(raw: bytes, header_end: int) -> bool:
    """Whether the header block ending at ``header_end`` says base64 (RFC 2045 section 6.1).

    The block starts after the boundary line before it, or at the message's start.
    """
    start = raw.rfind(b"\n--", 0, header_end) + 1
    return _BASE64_CTE.search(raw, start, header_end + 1) is not None


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
