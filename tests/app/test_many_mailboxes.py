"""One config, two schools' mailboxes: each filed by its own process, records apart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailbot.config import load_settings, mailbox_names
from mailbot.shell.store import Store
from tests.app.helpers import ROOT, folder_contents, mailbot
from tests.corpus import corpus_dir
from tests.dovecot import Dovecot, DovecotFactory

pytestmark = pytest.mark.imap

A, B = "truyenthong@thcspomlot.edu.vn", "truyenthong@thcsnahy.edu.vn"


def _config(tmp_path: Path, first: Dovecot, second: Dovecot) -> Path:
    secret = tmp_path / "imap-password"
    secret.write_text(first.password)
    db = os.environ.get("MAILBOT_DATABASE_URL") or f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    text = f"""
database_url: {db}
rules_dir: {ROOT / "rules"}
imap:
  security: none
  user: {first.user}
  password_file: {secret}
mailboxes:
  - mailbox: {A}
    store_dir: {tmp_path / "pomlot"}
    imap:
      host: {first.host}
      port: {first.port}
      security: none
      user: {first.user}
      password_file: {secret}
  - mailbox: {B}
    school_name: Trường THCS Nà Hỳ
    store_dir: {tmp_path / "nahy"}
    imap:
      host: {second.host}
      port: {second.port}
      security: none
      user: {second.user}
      password_file: {secret}
"""
    path = tmp_path / "mailbot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_two_mailboxes_from_one_config(dovecot_factory: DovecotFactory, tmp_path: Path) -> None:
    first, second = dovecot_factory(), dovecot_factory()
    config = _config(tmp_path, first, second)
    assert mailbox_names(config) == [A, B]
    assert load_settings(config, env={}, mailbox=B).school_name == "Trường THCS Nà Hỳ"
    corpus = sorted(corpus_dir().glob("d*.eml"))
    for path in corpus[:5]:
        first.append("INBOX", path.read_bytes())
    for path in corpus[5:8]:
        second.append("INBOX", path.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    result = mailbot(env, "--config", str(config), "run", "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert folder_contents(first)["INBOX"] == [], result.stderr
    assert folder_contents(second)["INBOX"] == [], result.stderr
    settings = load_settings(config, env={}, mailbox=B)
    store = Store.open(settings.db_url)
    try:
        by_mailbox = {r.mailbox.split("/")[0] for r in store.records()}
        nahy = store.records(mailbox=f"{B}/INBOX")
    finally:
        store.close()
    assert by_mailbox <= {A, B}
    assert len(nahy) == len([r for r in nahy if r.mailbox.startswith(B)]) > 0
    report = mailbot(
        env, "--config", str(config), "--mailbox", B, "report", "--month", "2026-01", cwd=tmp_path
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "nahy" / "reports" / "bao-cao-2026-01.docx").is_file()
    assert not (tmp_path / "pomlot" / "reports").exists()
