"""Helpers for end-to-end tests: settings pointing at a test Dovecot, mailbox views."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from imapclient import IMAPClient

from mailbot.config import ImapSettings, Settings
from tests.dovecot import Dovecot

ROOT = Path(__file__).resolve().parents[2]


def settings_for(dovecot: Dovecot, store: Path, **imap: object) -> Settings:
    """The demo defaults, pointed at ``dovecot`` (plain IMAP on loopback) and ``store``."""
    server = ImapSettings(
        host=dovecot.host,
        port=dovecot.port,
        security="none",
        user=dovecot.user,
        password=dovecot.password,
        idle_seconds=30,
        reconcile_seconds=30,
    )
    return with_test_database(
        replace(Settings(), imap=replace(server, **imap), store_dir=store)  # type: ignore[arg-type]
    )


def with_test_database(settings: Settings) -> Settings:
    """``settings`` using the per-test database when the suite runs on PostgreSQL."""
    return replace(settings, database_url=os.environ.get("MAILBOT_DATABASE_URL", ""))


def store_url(store: Path) -> str:
    """The URL of the store a ``mailbot`` child process used (SQLite file or test database)."""
    return os.environ.get("MAILBOT_DATABASE_URL") or f"sqlite:///{store / 'mailbot.sqlite3'}"


def env_for(dovecot: Dovecot, store: Path) -> dict[str, str]:
    """The environment that alone points ``mailbot`` at ``dovecot`` (no config file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    if "MAILBOT_DATABASE_URL" in os.environ:
        env["MAILBOT_DATABASE_URL"] = os.environ["MAILBOT_DATABASE_URL"]
    env.update(
        MAILBOT_IMAP_HOST=dovecot.host,
        MAILBOT_IMAP_PORT=str(dovecot.port),
        MAILBOT_IMAP_SECURITY="none",
        MAILBOT_IMAP_USER=dovecot.user,
        MAILBOT_IMAP_PASSWORD=dovecot.password,
        MAILBOT_STORE_DIR=str(store),
    )
    return env


def mailbot(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``mailbot`` command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def folder_contents(dovecot: Dovecot) -> dict[str, list[str]]:
    """Every folder's messages, as sha256 of their bytes."""
    out: dict[str, list[str]] = {}
    with dovecot.client() as imap:
        for _flags, _delim, name in imap.list_folders():
            out[str(name)] = _hashes(imap, str(name))
    return out


def _hashes(imap: IMAPClient, folder: str) -> list[str]:
    imap.select_folder(folder, readonly=True)
    uids = imap.search("ALL")
    if not uids:
        return []
    data = imap.fetch(uids, ["BODY.PEEK[]"])
    # A message moved by the daemon between SEARCH and FETCH comes back empty.
    bodies = [d.get(b"BODY[]") for d in data.values()]
    return [hashlib.sha256(b).hexdigest() for b in bodies if isinstance(b, bytes)]


def copies(contents: dict[str, list[str]]) -> Counter[str]:
    """How many copies of each message exist across all folders."""
    return Counter(h for hashes in contents.values() for h in hashes)
