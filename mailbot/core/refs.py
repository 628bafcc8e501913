"""Reference numbers: readable, stable names for articles and feedback.

``TB-2026-01-007`` is the seventh article or media item (tin bài) filed in
January 2026, ``PH-2026-01-012`` the twelfth piece of feedback (phản ánh).
They stand in acknowledgement subjects, so replies and approvals can name
them.
"""

from __future__ import annotations

import re

from mailbot.core.model import Kind

__all__ = ["REF_PATTERN", "find_refs", "format_ref", "prefix_for"]

REF_PATTERN = re.compile(r"\b([A-Z]{2})-(\d{4})-(\d{2})-(\d{3,})\b")
_PREFIXES: dict[str, str] = {"submission": "TB", "media": "TB", "feedback": "PH"}


def prefix_for(kind: Kind) -> str | None:
    """``TB`` for articles and media, ``PH`` for feedback, None for the rest."""
    return _PREFIXES.get(kind)


def format_ref(prefix: str, year: int, month: int, number: int) -> str:
    """``format_ref("TB", 2026, 1, 7)`` → ``TB-2026-01-007``."""
    return f"{prefix}-{year:04d}-{month:02d}-{number:03d}"


def find_refs(text: str) -> list[str]:
    """Every reference number in ``text``, upper-cased, in order, without repeats."""
    seen: dict[str, None] = {}
    for match in REF_PATTERN.finditer(text.upper()):
        seen.setdefault(match.group(0), None)
    return list(seen)
