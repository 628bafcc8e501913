"""Two daemons on one mailbox, sharing PostgreSQL; one is killed (RELIABILITY case 15).

No message is processed twice, and none is left behind when a daemon dies:
each pass holds the mailbox's PostgreSQL advisory lock, which ends with the
session of a killed process.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mailbot.shell.store import Store
from tests.app.helpers import copies, env_for, folder_contents
from tests.corpus import corpus_dir
from tests.dovecot import Dovecot

pytestmark = [pytest.mark.imap, pytest.mark.postgres]

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = f"mailbot_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _unique(raw: bytes, n: int) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"message-id:")]
    lines.append(b"Message-ID: <two-%d@bench.example>" % n)
    return b"\r\n".join(lines) + sep + body


def _daemon(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def test_two_daemons_one_killed(dovecot: Dovecot, database: str, tmp_path: Path) -> None:
    corpus = [p.read_bytes() for p in sorted(corpus_dir().glob("d*.eml"))]
    raws = [_unique(corpus[n % len(corpus)], n) for n in range(60)]
    env = env_for(dovecot, tmp_path / "store") | {"MAILBOT_DATABASE_URL": database}
    logs = tmp_path / "first.log", tmp_path / "second.log"
    first, second = _daemon(env, tmp_path, logs[0]), _daemon(env, tmp_path, logs[1])
    try:
        time.sleep(2)
        for raw in raws:
            dovecot.append("INBOX", raw)
        time.sleep(1)
        first.kill()  # SIGKILL, mid-work
        first.wait()
        deadline = time.monotonic() + 90
        while folder_contents(dovecot)["INBOX"] and time.monotonic() < deadline:
            time.sleep(0.5)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    contents = folder_contents(dovecot)
    assert contents["INBOX"] == [], logs[0].read_text()[-2000:] + logs[1].read_text()[-2000:]
    assert copies(contents) == {hashlib.sha256(r).hexdigest(): 1 for r in raws}
    store = Store.open(database)
    try:
        records = store.records()
        counts = store.counts()
    finally:
        store.close()
    assert counts.by_state.get("duplicate", 0) == 0
    assert sum(counts.by_state.values()) == len(raws)
    assert Counter(r.ref for r in records).most_common(1)[0][1] == 1
