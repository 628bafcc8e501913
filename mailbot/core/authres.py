"""``Authentication-Results`` header fields (RFC 8601) reduced to their verdicts."""

from __future__ import annotations

import re

from mailbot.core.decoding import unfold, unsurrogate
from mailbot.core.model import AuthResult

__all__ = ["parse_auth_results"]

_METHOD = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)")
_HEADER_FROM = re.compile(r"\bheader\.from\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)
_INNER_COMMENT = re.compile(r"\([^()\\]*\)")
_FAST_PASSES = 4


def _drop_comments(value: str) -> str:
    """Remove RFC 5322 comments (nested parentheses).

    Innermost comments go first, a few passes deep; deeper nesting (never
    seen from a real server) falls back to one linear scan.
    """
    for _ in range(_FAST_PASSES):
        if "(" not in value and ")" not in value:
            return value
        value = _INNER_COMMENT.sub(" ", value)
    return _scan_comments(value)


def _scan_comments(value: str) -> str:
    """Remove comments (nested parentheses) outside quoted strings, in one pass."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif not quoted and char == "(":
            depth += 1
            continue
        elif not quoted and depth and char == ")":
            depth -= 1
            continue
        elif not depth and char == '"':
            quoted = not quoted
        if not depth:
            out.append(char)
    return "".join(out)


def parse_auth_results(raw: str) -> AuthResult:
    """One header: authserv-id, the first dmarc/spf/dkim result and ``header.from``.

    RFC 8601 section 2.2: ``authserv-id [version] *(";" resinfo)``; method
    names and result words are case-insensitive, so both are lower-cased.
    Microsoft 365 omits the authserv-id; such a header gets ``""``.
    """
    segments = _drop_comments(unfold(unsurrogate(raw))).split(";")
    head = segments[0].split()
    if head and "=" in head[0]:
        # Microsoft 365 writes no authserv-id: the first segment is already a result.
        head, resinfo = [], segments
    else:
        resinfo = segments[1:]
    verdicts: dict[str, str] = {}
    header_from: str | None = None
    for segment in resinfo:
        match = _METHOD.match(segment)
        if match is None:
            continue
        method, result = match.group(1).lower(), match.group(2).lower()
        verdicts.setdefault(method, result)
        found = _HEADER_FROM.search(segment)
        if found and (header_from is None or method == "dmarc"):
            header_from = found.group(1).lower()
    return AuthResult(
        authserv_id=head[0].lower() if head else "",
        dmarc=verdicts.get("dmarc"),
        spf=verdicts.get("spf"),
        dkim=verdicts.get("dkim"),
        header_from=header_from,
    )
