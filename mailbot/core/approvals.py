"""Read the leadership's commands out of a reply: DUYỆT, KHÔNG DUYỆT, ĐÃ XỬ LÝ.

Commands stand at the start of a line of the new text, in any case, with or
without diacritics, several per mail::

    DUYỆT TB-2026-01-007
    KHÔNG DUYỆT TB-2026-01-008: ảnh chưa rõ, đề nghị chụp lại
    da xu ly PH-2026-01-012: đã mời phụ huynh lên trao đổi

A reply in the thread of one article that says "Duyệt" or "Không duyệt"
without a number applies to that article (:func:`thread_verdict`).
Who may give commands is decided elsewhere (trust, roster); this module only
reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mailbot.core.refs import REF_PATTERN
from mailbot.core.text import fold

__all__ = ["Action", "Command", "parse_commands", "thread_verdict"]

Action = Literal["approve", "reject", "handled"]

_VERB = re.compile(
    r"^[\s\-•*]*(?P<verb>khong\s+duyet|chua\s+duyet|duyet|da\s+xu\s+ly)\b\s*[:\-–]?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_ACTIONS: dict[str, Action] = {
    "khong duyet": "reject",
    "chua duyet": "reject",
    "duyet": "approve",
    "da xu ly": "handled",
}
_NEGATIVE = re.compile(r"\b(khong|chua)\s+(duyet|dong y|dang|nhat tri)\b")


@dataclass(frozen=True, slots=True)
class Command:
    """One command: what to do, to which reference, with what note.

    ``ref`` is None when the verb stood before something that looks like a
    number but is not a valid one; ``raw`` holds the line, for a clear answer.
    """

    action: Action
    ref: str | None
    note: str
    raw: str


def _fold_line(line: str) -> str:
    return " ".join(fold(word) for word in line.split())


def parse_commands(text: str) -> list[Command]:
    """Every command line in ``text`` (the new text of a reply, quotes removed)."""
    commands = []
    for line in text.splitlines():
        match = _VERB.match(_fold_line(line))
        if match is None:
            continue
        verb = " ".join(match.group("verb").lower().split())
        command = _command(_ACTIONS[verb], line.strip(), match.group("rest"))
        if command is not None:
            commands.append(command)
    return commands


def _command(action: Action, line: str, rest: str) -> Command | None:
    """The command on ``line``; None for a bare verb ("Duyệt, đồng ý đăng")."""
    ref_match = REF_PATTERN.search(line.upper())
    if ref_match is None:
        first = rest.split(maxsplit=1)[0] if rest.strip() else ""
        return Command(action, None, "", line) if any(ch.isdigit() for ch in first) else None
    ref = ref_match.group(0)
    start = line.upper().index(ref) + len(ref)
    note = line[start:].strip().lstrip(":-–").strip()
    return Command(action, ref, note, line)


def thread_verdict(text: str) -> Action:
    """For "Duyệt"/"Không duyệt" without a number: reject if any negation, else approve."""
    return "reject" if _NEGATIVE.search(_fold_line(text).lower()) else "approve"
