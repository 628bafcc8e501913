"""``mailbot doctor``: check everything a working daemon needs, and say how to fix it.

Each check is one named function returning a :class:`Finding`; they run in
order and never raise, so one broken part does not hide the others. The
connectivity checks talk to the configured hosts directly (no MX or other DNS
look-ups of the school's domain), log in, and log out again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from mailbot.app.outbox import make_sender
from mailbot.app.wiring import source_factory, token_provider
from mailbot.config import Settings
from mailbot.errors import MailbotError, SendError
from mailbot.rules_file import load_rules, summary
from mailbot.shell.store import Store, alembic_config
from mailbot.templates import default_templates_dir, load_templates

__all__ = ["Finding", "diagnose"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's outcome: its name, whether it passed, what was seen, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


Check = Callable[[Settings], Finding]


def _rules(s: Settings) -> Finding:
    try:
        return Finding("rules", True, f"{s.rules_dir}: {summary(load_rules(s.rules_dir))}")
    except MailbotError as exc:
        first = str(exc).splitlines()[0]
        return Finding("rules", False, first, f"run: mailbot rules check --rules {s.rules_dir}")


def _templates(s: Settings) -> Finding:
    folder = default_templates_dir()
    try:
        templates = load_templates(folder)
        names = sorted(p.name for p in (folder / "mail").glob("*.txt.j2"))
        for name in names:
            templates.env.get_template(f"mail/{name}")
    except Exception as exc:
        return Finding(
            "templates", False, f"{folder}: {exc}", "restore templates/ from the project"
        )
    return Finding("templates", True, f"{folder}: {len(names)} mail templates")


def _store(s: Settings) -> Finding:
    try:
        s.store_dir.mkdir(parents=True, exist_ok=True)
        _writable(s.store_dir)
        store = Store.open(s.db_url)
        try:
            current = store.current_revision()
        finally:
            store.close()
    except (OSError, MailbotError) as exc:
        return Finding("store", False, str(exc), "check database_url and store_dir permissions")
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current != head:
        return Finding(
            "store",
            False,
            f"database at revision {current}, code expects {head}",
            "run: mailbot db upgrade",
        )
    return Finding("store", True, f"{store.url} at revision {current}; {s.store_dir} writable")


def _writable(folder: Path) -> None:
    probe = folder / ".mailbot-doctor"
    probe.write_bytes(b"")
    probe.unlink()


def _mailbox(s: Settings) -> Finding:
    where = f"{s.imap.user} at {s.imap.host}:{s.imap.port}" if s.imap.host else str(s.maildir_path)
    try:
        source = source_factory(s, tokens=token_provider(s))()
        try:
            uidvalidity = source.select()
            waiting = len(source.uids_after(0))
        finally:
            source.close()
    except (OSError, MailbotError) as exc:
        fix = "check imap.host, port, security, user and the password (MAILBOT_IMAP_PASSWORD)"
        return Finding("mailbox", False, f"{where}: {exc}", fix)
    return Finding(
        "mailbox",
        True,
        f"{where}: {s.imap.folder} selected (UIDVALIDITY {uidvalidity}, {waiting} messages)",
    )


def _smtp(s: Settings) -> Finding:
    where = f"{s.smtp.host}:{s.smtp.port}" if s.smtp.host else str(s.store_dir / "outbox")
    try:
        make_sender(s.smtp, s.store_dir, token_provider(s)).check()
    except SendError as exc:
        fix = "check smtp.host, port, security, user and the password (MAILBOT_SMTP_PASSWORD)"
        return Finding("smtp", False, str(exc), fix)
    detail = "logged in and out" if s.smtp.host else "no SMTP host: mail is written as .eml files"
    return Finding("smtp", True, f"{where}: {detail}")


CHECKS: tuple[Check, ...] = (_rules, _templates, _store, _mailbox, _smtp)


def diagnose(settings: Settings) -> list[Finding]:
    """Run every check against ``settings``; never raises."""
    return [check(settings) for check in CHECKS]
