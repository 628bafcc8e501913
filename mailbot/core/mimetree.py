"""The stdlib feed parser's ``compat32`` tree, built in bulk for well-formed MIME.

``email.feedparser`` reads a message one line at a time in Python, testing
every body line against every open boundary (RFC 2046 section 5.1.2): it is
most of the time :mod:`mailbot.core.parse` spends on an ordinary message.
Here the same tree is built by searching the whole text for boundary lines
and blank lines, and slicing: the same classes, header fields, payloads,
preambles and epilogues, the same trailing line break given to the boundary.

Only what the feed parser reads without a defect is built here: header
blocks of field lines and continuations, multiparts whose boundary is
declared, opened and closed, attached messages (``message/*``). Anything
else makes :func:`build` return None, and the caller runs the feed parser,
which records the defects: a lone CR, a ``From`` line among the fields, a
header line without a colon, a missing or repeated boundary line, boundaries
of which one begins another, ``multipart/digest`` and
``message/delivery-status`` (their own rules), a multipart with a
transfer encoding, deep nesting and very long texts (the feed parser's
chunked reading keeps those in less memory). A property test checks, on
real and mutated messages, that every tree built here equals the feed
parser's.

Pure: no I/O, no module state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.core.bigbodies import BlobPart

__all__ = ["MAX_CHARS", "build"]

#: Longer texts go to the feed parser, whose 64 KB chunks bound the copies.
MAX_CHARS = 1 << 20
_MAX_DEPTH = 40
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]*:|[\t ]")  # feedparser.headerRE less "From "
_BLANK_LINE = re.compile(r"\n\r?\n")
_PLAIN_CTE = ("7bit", "8bit", "binary")


class _IrregularError(Exception):
    """The text holds something the feed parser reads its own way: use it instead."""


@dataclass(frozen=True, slots=True)
class _Region:
    """Where one message or part may be read: ``text[start:end]``, the end being
    the first line of an enclosing boundary (or of the text)."""

    start: int
    end: int
    separators: tuple[str, ...]  # "--" + boundary of every enclosing multipart
    depth: int


def build(text: str) -> BlobPart | None:
    """The tree the feed parser would build from ``text``, or None where it must build it.

    ``text`` is the message as the byte parser sees it: its bytes decoded as
    ASCII with surrogate escapes.
    """
    if len(text) > MAX_CHARS or text.count("\r") != text.count("\r\n"):
        return None
    try:
        root, _last = _Builder(text).message(_Region(0, len(text), (), 0))
    except Exception:  # _IrregularError, or a header the stdlib cannot read: its parser decides
        return None
    return root


@dataclass(frozen=True, slots=True)
class _Builder:
    text: str

    def message(self, region: _Region) -> tuple[BlobPart, BlobPart]:
        """One node and its content; also the node whose last line break the
        boundary after it takes (the feed parser's ``_last``)."""
        if region.depth > _MAX_DEPTH:
            raise _IrregularError
        node = BlobPart()
        body = self._headers(node, region)
        inner = _Region(body, region.end, region.separators, region.depth + 1)
        ctype = node.get_content_type()
        maintype = ctype.partition("/")[0]
        if ctype in {"message/delivery-status", "multipart/digest"}:
            raise _IrregularError
        if maintype == "message":
            sub, last = self.message(inner)
            node.attach(sub)
            return node, last
        if maintype == "multipart":
            self._multipart(node, inner)
            return node, node
        node.set_payload(self.text[body : region.end])
        return node, node

    def _headers(self, node: BlobPart, region: _Region) -> int:
        """Store the fields as ``compat32`` parses them; return where the body starts."""
        text, start, end = self.text, region.start, region.end
        if text.startswith("\n", start, end) or text.startswith("\r\n", start, end):
            return text.index("\n", start) + 1
        blank = _BLANK_LINE.search(text, start, end)
        stop, body = (blank.start() + 1, blank.end()) if blank else (end, end)
        name, value = "", ""
        for line in _lines(text[start:stop]):
            if line[0] in " \t" and name:
                value += line
                continue
            if line.startswith(("From ", ":")) or line[0] in " \t" or not _HEADER_LINE.match(line):
                raise _IrregularError
            if name:
                node.set_raw(name, value.rstrip("\r\n"))
            name, _colon, rest = line.partition(":")
            value = rest.lstrip(" \t")
        if name:
            node.set_raw(name, value.rstrip("\r\n"))
        return body

    def _multipart(self, node: BlobPart, region: _Region) -> None:
        """Preamble, parts and epilogue (RFC 2046 section 5.1.1), as the feed parser cuts them."""
        boundary = node.get_boundary()
        cte = str(node.get("content-transfer-encoding", "8bit")).lower()
        if not boundary or "\n" in boundary or "\r" in boundary or cte not in _PLAIN_CTE:
            raise _IrregularError
        separator = "--" + boundary
        if any(s.startswith(separator) or separator.startswith(s) for s in region.separators):
            raise _IrregularError
        separators = (*region.separators, separator)
        line = self._boundary(separator, region.start, region.end)
        if line is None or line[0]:
            raise _IrregularError
        if line[1] > region.start:
            node.preamble = _without_break(self.text[region.start : line[1]])
        while not line[0]:
            start = line[2]
            line = self._boundary(separator, start, region.end)
            if line is None or line[1] == start:
                raise _IrregularError  # no closing line, or two boundary lines in a row
            _sub, last = self.message(_Region(start, line[1], separators, region.depth))
            node.attach(_sub)
            _give_break(last)
        node.epilogue = self.text[line[2] : region.end]

    def _boundary(self, separator: str, pos: int, end: int) -> tuple[bool, int, int] | None:
        """The next boundary line in ``text[pos:end]``: (closing, its start, its end)."""
        text = self.text
        while (at := text.find(separator, pos, end)) >= 0:
            pos = at + 1
            if at and text[at - 1] != "\n":
                continue
            after = at + len(separator)
            closing = text.startswith("--", after, end)
            tail = after + 2 if closing else after
            while tail < end and text[tail] in " \t":
                tail += 1
            if tail == len(text):
                return closing, at, tail
            if text.startswith("\n", tail, end):
                return closing, at, tail + 1
            if text.startswith("\r\n", tail, end):
                return closing, at, tail + 2
        return None


def _lines(block: str) -> list[str]:
    """The lines of ``block``, each with its line break (the last may lack one)."""
    lines = block.split("\n")
    tail = lines.pop()
    out = [line + "\n" for line in lines]
    if tail:
        out.append(tail)
    return out


def _without_break(text: str) -> str:
    """``text`` less one final line break: RFC 2046 gives it to the boundary after it."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _give_break(last: BlobPart) -> None:
    """Take the last line break of a part's payload (or a multipart's epilogue).

    Here a node has children exactly when its type is multipart.
    """
    if last.is_multipart():
        if last.epilogue == "":
            last.epilogue = None
        elif last.epilogue is not None:
            last.epilogue = _without_break(last.epilogue)
        return
    payload = last.stored_text()
    if payload:
        last.set_payload(_without_break(payload))
