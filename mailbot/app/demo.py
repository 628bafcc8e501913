"""The demo: a local Maildir filled with the sample messages shipped in the package."""

from __future__ import annotations

import mailbox
import shutil
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path

from mailbot.config import VN, ImapSettings, ReplySettings, Settings

__all__ = ["demo_settings", "make_demo_maildir"]


def demo_settings(directory: Path) -> Settings:
    """The demo school's defaults, with everything kept under ``directory``."""
    return replace(
        Settings(),
        store_dir=directory,
        maildir=directory / "maildir",
        database_url="",
        imap=ImapSettings(),
        replies=ReplySettings(since=datetime(2026, 1, 1, tzinfo=VN)),
    )


def make_demo_maildir(path: Path) -> int:
    """Empty ``path``'s parent demo folder and deliver every sample into a new Maildir."""
    if path.parent.exists():
        shutil.rmtree(path.parent)
    path.parent.mkdir(parents=True)
    box = mailbox.Maildir(path, create=True)
    samples = sorted(
        (
            p
            for p in resources.files("mailbot").joinpath("demo").iterdir()
            if p.name.endswith(".eml")
        ),
        key=lambda p: p.name,
    )
    for sample in samples:
        box.add(sample.read_bytes())
    return len(samples)
