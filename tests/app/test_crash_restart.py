"""SIGKILL at each step of a message's processing, then restart (RELIABILITY case 7).

After the restart every message is filed once and moved once: INBOX is empty,
each message exists in exactly one folder, and the ledger holds one record
per message.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.shell.store import Store
from tests.app.crash_runner import STEPS
from tests.app.helpers import ROOT, copies, env_for, folder_contents, mailbot, store_url
from tests.corpus import corpus_dir
from tests.dovecot import Dovecot

pytestmark = pytest.mark.imap


@pytest.mark.parametrize("step", list(STEPS))
def test_kill_after_step_then_restart(dovecot: Dovecot, tmp_path: Path, step: str) -> None:
    corpus = [corpus_dir() / f"d00{i}.eml" for i in (2, 5, 6, 7)]
    raws = [p.read_bytes() for p in corpus]
    for raw in raws:
        dovecot.append("INBOX", raw)
    env = env_for(dovecot, tmp_path / "store") | {"PYTHONPATH": str(ROOT)}
    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.app.crash_runner",
            step,
            # One claim and one marking of moves per batch; the sync state is saved once
            # before the first batch, then in each batch's transaction.
            "1" if step in ("claim", "mark-moved") else "2",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    again = mailbot(env, "run", "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    contents = folder_contents(dovecot)
    assert contents["INBOX"] == []
    assert copies(contents) == {hashlib.sha256(r).hexdigest(): 1 for r in raws}
    store = Store.open(store_url(tmp_path / "store"))
    try:
        assert store.counts().by_state == {"moved": len(raws)}
    finally:
        store.close()
