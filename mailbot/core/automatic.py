"""Recognise automatic mail from its headers and structure.

Automatic mail (bounces, read receipts, out-of-office notices, newsletters,
server notices) is filed but never answered: RFC 3834 section 2 asks
responders not to answer it, and the school's label schema gives it role
``unknown`` and kind ``auto``. The tests, each named:

* ``auto-submitted`` — any ``Auto-Submitted`` value but ``no`` (RFC 3834 §5);
* ``report`` — a ``multipart/report`` body: a DSN (RFC 3464) or an MDN (RFC 8098);
* ``null-return-path`` — ``Return-Path: <>``, the envelope of a bounce (RFC 5321 §4.5.5);
* ``system-sender`` — MAILER-DAEMON, postmaster, noreply and the like (RFC 2142);
* ``precedence`` — ``Precedence: bulk | junk | list``;
* ``list`` — any ``List-*`` header (RFC 2369, RFC 2919);
* ``flag-header`` — X-Autoreply, X-Autorespond, X-Auto-Response-Suppress …;
* ``auto-subject`` — an out-of-office or receipt subject, Vietnamese or English.
"""

from __future__ import annotations

from mailbot.core.model import Mail
from mailbot.core.rules import AutomaticRules

__all__ = ["automatic_reasons"]


def automatic_reasons(mail: Mail, rules: AutomaticRules) -> tuple[str, ...]:
    """The names of the tests that say ``mail`` is automatic; empty when it is not."""
    present = {name for name, _value in mail.headers}  # lower-case, as parsed
    checks = (
        ("auto-submitted", _auto_submitted(mail)),
        ("report", mail.content_type.lower() == "multipart/report"),
        ("null-return-path", _null_return_path(mail)),
        ("system-sender", _system_sender(mail, rules)),
        ("precedence", _precedence(mail) in rules.precedence),
        ("list", any(h.lower() in present for h in rules.list_headers)),
        ("flag-header", any(h.lower() in present for h in rules.flag_headers)),
        ("auto-subject", bool(rules.subjects.search(mail.subject))),
    )
    return tuple(name for name, fired in checks if fired)


def _auto_submitted(mail: Mail) -> bool:
    value = mail.header("auto-submitted")
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() != "no"


def _null_return_path(mail: Mail) -> bool:
    value = mail.header("return-path")
    return value is not None and value.strip() in ("<>", "")


def _precedence(mail: Mail) -> str:
    return (mail.header("precedence") or "").strip().lower()


def _system_sender(mail: Mail, rules: AutomaticRules) -> bool:
    if mail.sender is None:
        return False
    local = mail.sender.local.lower()
    return (
        local in rules.sender_locals
        or local.startswith(rules.sender_local_prefixes)
        or local.endswith(rules.sender_local_suffixes)
    )
