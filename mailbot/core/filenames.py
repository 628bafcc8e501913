"""Attachment display names that are safe to show and never a path (RFC 2183 section 2.3).

The sender chooses the name; it may hold directories (``../../etc/cron.d/x``),
a Windows device (``con.txt``), control characters, bidi overrides that
disguise the extension, or 300 characters. The name kept here is for display
and matching only; files are stored under generated names by the shell.
"""

from __future__ import annotations

import re

from mailbot.core.decoding import one_line

__all__ = ["MAX_NAME_CHARS", "safe_filename"]

MAX_NAME_CHARS = 150
_MAX_EXT_CHARS = 16
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
    | {"com¹", "com²", "com³", "lpt¹", "lpt²", "lpt³"}
)
_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_BY_TYPE = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "video/mp4": ".mp4",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
}


def _split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext") when ``name`` has a short, space-free extension, else (name, "")."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) < _MAX_EXT_CHARS and " " not in ext:
        return stem, "." + ext
    return name, ""


def _bounded(name: str) -> str:
    """Cut ``name`` to MAX_NAME_CHARS, keeping its extension."""
    if len(name) <= MAX_NAME_CHARS:
        return name
    stem, ext = _split_ext(name)
    return stem[: MAX_NAME_CHARS - len(ext)].rstrip(" .") + ext


def safe_filename(raw: str | None, content_type: str) -> str:
    """A display name: basename only, no controls, no leading dots, not a device name.

    Empty results become ``attachment`` plus an extension by content type.
    """
    name = one_line(raw or "").replace("\\", "/").rpartition("/")[2]
    name = "".join(char for char in name if char.isprintable())
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip().rstrip(" .")
    if not name:
        return "attachment" + _BY_TYPE.get(content_type, ".bin")
    if name.partition(".")[0].strip().lower() in _WINDOWS_RESERVED:
        name = "_" + name
    return _bounded(name)
