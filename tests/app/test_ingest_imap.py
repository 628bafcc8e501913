"""End to end against a real Dovecot: every message filed once and moved once."""

from __future__ import annotations

import hashlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from mailbot.app import ingest as ingest_mod
from mailbot.app.daemon import Daemon
from mailbot.app.wiring import App, build
from mailbot.core.decide import Plan
from mailbot.core.model import Classification, Mail, Unparseable
from mailbot.core.parse import Limits, parse_message
from mailbot.errors import SourceError
from mailbot.shell.blobs import Blobs
from mailbot.shell.source import MoveOutcome
from tests.app.helpers import copies, env_for, folder_contents, mailbot, settings_for
from tests.corpus import corpus_dir
from tests.dovecot import Dovecot

pytestmark = pytest.mark.imap


def _corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(corpus_dir().glob("d*.eml"))]


@pytest.fixture
def app(dovecot: Dovecot, tmp_path: Path) -> Iterator[App]:
    application = build(settings_for(dovecot, tmp_path / "store"))
    yield application
    application.close()


def test_run_once_files_the_corpus_from_the_environment_alone(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """`mailbot run --once` with only MAILBOT_* variables: INBOX empties, each message
    lands in exactly one folder, Vietnamese folder names included; a second run changes
    nothing."""
    corpus = _corpus()
    for raw in corpus:
        dovecot.append("INBOX", raw)
    env = env_for(dovecot, tmp_path / "store")
    first = mailbot(env, "run", "--once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"{len(corpus)} messages seen: {len(corpus)} filed" in first.stdout
    contents = folder_contents(dovecot)
    assert contents["INBOX"] == []
    assert copies(contents) == {hashlib.sha256(r).hexdigest(): 1 for r in corpus}
    assert {"Bài viết/Tổ KHTN", "Phản ánh", "Thư tự động", "Văn bản Sở"} <= {
        name.replace(".", "/") for name in contents
    }
    second = mailbot(env, "run", "--once", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 messages seen" in second.stdout
    assert folder_contents(dovecot) == contents


def test_run_once_exits_1_when_login_fails(dovecot: Dovecot, tmp_path: Path) -> None:
    env = env_for(dovecot, tmp_path / "store") | {"MAILBOT_IMAP_PASSWORD": "wrong-password"}
    result = mailbot(env, "run", "--once", cwd=tmp_path)
    assert result.returncode == 1
    assert "error:" in result.stderr and "wrong-password" not in result.stderr


def test_incremental_sync_fetches_only_new_mail(dovecot: Dovecot, app: App) -> None:
    corpus = _corpus()
    for raw in corpus[:5]:
        dovecot.append("INBOX", raw)
    assert Daemon(app).run_once().filed == 5
    for raw in corpus[5:8]:
        dovecot.append("INBOX", raw)
    report = Daemon(app).run_once()
    assert (report.seen, report.filed) == (3, 3)
    assert Daemon(app).run_once().seen == 0


def test_a_backlog_is_read_in_batches_bounded_in_bytes(
    dovecot: Dovecot, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large mail (photos, videos) is fetched a few megabytes at a time, not 100 messages."""
    corpus = _corpus()[:14]
    bound = max(len(raw) for raw in corpus)  # the largest message fits, alone
    monkeypatch.setattr(ingest_mod, "MAX_BATCH_BYTES", bound)
    for raw in corpus:
        dovecot.append("INBOX", raw)
    fetched: list[list[int]] = []
    with closing(app.connect()) as source:
        fetch = source.fetch_raw

        def recording(uids: Sequence[int]) -> dict[int, bytes]:
            raws = fetch(uids)
            fetched.append([len(raw) for raw in raws.values()])
            return raws

        monkeypatch.setattr(source, "fetch_raw", recording)
        report = app.ingest(source).run_pass()
    assert (report.filed + report.quarantined, report.moved) == (14, 14)
    assert sorted(n for batch in fetched for n in batch) == sorted(len(r) for r in corpus)
    assert len(fetched) > 1 and all(sum(batch) <= bound for batch in fetched)
    assert folder_contents(dovecot)["INBOX"] == []


def test_two_copies_in_one_batch_are_filed_once(dovecot: Dovecot, app: App) -> None:
    """The same bytes twice in INBOX, met in one batch: the second is a duplicate (case 10)."""
    raw = _corpus()[3]
    for message in (raw, _corpus()[4], raw):
        dovecot.append("INBOX", message)
    report = Daemon(app).run_once()
    assert (report.filed, report.duplicates) == (2, 1)
    assert app.store.counts().by_state == {"moved": 2, "duplicate": 1}
    assert folder_contents(dovecot)["INBOX"] == [hashlib.sha256(raw).hexdigest()]


def test_seen_flag_is_neither_needed_nor_set(dovecot: Dovecot, app: App) -> None:
    """A human reading the mail first changes nothing (RELIABILITY case 14)."""
    corpus = _corpus()
    dovecot.append("INBOX", corpus[0], flags=[r"\Seen"])
    dovecot.append("INBOX", corpus[1])
    assert Daemon(app).run_once().filed == 2
    with dovecot.client() as imap:
        for name in ("Văn bản Sở", "Phản ánh"):
            imap.select_folder(name, readonly=True)
            flags = [f for fl in imap.get_flags(imap.search("ALL")).values() for f in fl]
            assert (rb"\Seen" in flags) == (name == "Văn bản Sở")


def test_changed_uidvalidity_refiles_nothing(dovecot: Dovecot, app: App) -> None:
    """A restored mailbox (new UIDVALIDITY, old mail back in INBOX) is recognised by hash."""
    corpus = _corpus()[:6]
    for raw in corpus:
        dovecot.append("INBOX", raw)
    assert Daemon(app).run_once().filed == 6
    for raw in corpus[:3]:
        dovecot.append("INBOX", raw)
    dovecot.append("INBOX", _corpus()[10])
    before = dovecot.uidvalidity()
    assert dovecot.uidvalidity_reset() != before
    report = Daemon(app).run_once()
    assert (report.seen, report.filed, report.duplicates) == (4, 1, 3)


def test_message_dragged_back_is_not_processed_twice(dovecot: Dovecot, app: App) -> None:
    raw = _corpus()[2]
    dovecot.append("INBOX", raw)
    assert Daemon(app).run_once().filed == 1
    dovecot.append("INBOX", raw)
    report = Daemon(app).run_once()
    assert (report.filed, report.duplicates) == (0, 1)
    assert app.store.counts().by_state == {"moved": 1, "duplicate": 1}


def test_poison_message_is_quarantined_and_the_rest_filed(dovecot: Dovecot, app: App) -> None:
    """A parser crash on one message: three attempts, then quarantine; others flow."""
    corpus = _corpus()[:4]
    poison = b"From: x@y.example\r\nSubject: poison\r\n\r\nboom\r\n"
    for raw in (corpus[0], poison, *corpus[1:]):
        dovecot.append("INBOX", raw)

    def fragile(raw: bytes, limits: Limits) -> object:
        if b"poison" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return parse_message(raw, limits)

    reports = []
    for _ in range(3):
        with closing(app.connect()) as source:
            ingest = app.ingest(source)
            ingest.parse = fragile  # type: ignore[assignment]
            reports.append(ingest.run_pass())
    assert [r.filed for r in reports] == [4, 0, 0]
    assert [r.quarantined for r in reports] == [0, 0, 1]
    [record] = app.store.quarantined()
    assert record.attempts == 3 and "RecursionError" in (record.last_error or "")
    contents = folder_contents(dovecot)
    assert contents["INBOX"] == [] and len(contents["Cách ly"]) == 1


def test_a_failure_mid_batch_undoes_the_batch_and_files_the_rest_once(
    dovecot: Dovecot, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch is filed without a savepoint per message; when one message fails after
    its decision took a number, the batch is filed again message by message: the others
    are filed, numbered without a gap and logged once, the failure counts one attempt."""
    corpus = _corpus()[:6]
    for raw in corpus:
        dovecot.append("INBOX", raw)
    victim = parse_message(corpus[2], Limits())
    assert isinstance(victim, Mail)
    with closing(app.connect()) as source:
        ingest = app.ingest(source)
        decide = ingest._decide

        def failing(mail: Mail, cls: Classification, now: datetime) -> Plan:
            plan = decide(mail, cls, now)
            if mail.message_id == victim.message_id:
                raise OSError("disk full")
            return plan

        ingest._decide = failing  # type: ignore[method-assign]
        with caplog.at_level(logging.INFO, logger="mailbot.ingest"):
            report = ingest.run_pass()
    assert (report.seen, report.filed, report.failed) == (6, 5, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert sum(line.startswith("filed id=") for line in lines) == 5
    assert sum("filing the batch again" in line for line in lines) == 1
    assert app.store.counts().by_state == {"moved": 5, "fetched": 1}
    [failed] = app.store.find_by_message_id(victim.message_id)
    assert failed.attempts == 1 and "disk full" in (failed.last_error or "")
    refs = sorted(r.ref for r in app.store.records() if r.ref)
    stems: dict[str, list[int]] = {}
    for ref in refs:
        stem, number = ref.rsplit("-", 1)
        stems.setdefault(stem, []).append(int(number))
    assert refs and all(sorted(n) == list(range(1, len(n) + 1)) for n in stems.values())
    assert len(folder_contents(dovecot)["INBOX"]) == 1


def test_a_move_that_fails_leaves_the_folders_moved_before_it_marked(
    dovecot: Dovecot, app: App
) -> None:
    """The moves of a pass are marked in one commit, after the MOVEs; when one MOVE fails
    (the connection drops), the folders already moved are still marked ``moved``, the rest
    stay ``filed``, and the next pass moves those: each message in one folder, once."""
    corpus = _corpus()
    for raw in corpus:
        dovecot.append("INBOX", raw)
    with closing(app.connect()) as source:
        move = source.move
        calls: list[str] = []

        def failing(uids: Sequence[int], folder: str) -> MoveOutcome:
            calls.append(folder)
            if len(calls) == 2:
                raise SourceError("connection dropped")
            return move(uids, folder)

        source.move = failing  # type: ignore[method-assign]
        with pytest.raises(SourceError):
            app.ingest(source).run_pass()
    states = app.store.counts().by_state
    moved_first = len(folder_contents(dovecot)[calls[0]])
    assert states == {"moved": moved_first, "filed": len(corpus) - moved_first}
    with closing(app.connect()) as source:
        app.ingest(source).run_pass()
    assert app.store.counts().by_state == {"moved": len(corpus)}
    contents = folder_contents(dovecot)
    assert contents["INBOX"] == []
    assert copies(contents) == {hashlib.sha256(r).hexdigest(): 1 for r in corpus}


@pytest.mark.parametrize(("workers", "writer"), [(1, "mailbot-raw"), (0, "MainThread")])
def test_raw_messages_are_stored_by_the_writer_thread_and_synced_with_their_batch(
    dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, writer: str
) -> None:
    """With parse workers, each raw message is written by the pass's writer thread and
    made durable by the daemon's sync before the batch's commit points at it; without
    them, the daemon (parsing in its own thread) writes them as it files."""
    for raw in _corpus()[:5]:
        dovecot.append("INBOX", raw)
    threads: list[str] = []
    put_raw = Blobs.put_raw

    def noted(blobs: Blobs, raw: bytes) -> str:
        threads.append(threading.current_thread().name)
        return put_raw(blobs, raw)

    adopted: list[str] = []
    adopt = Blobs.adopt
    monkeypatch.setattr(Blobs, "put_raw", noted)
    monkeypatch.setattr(Blobs, "adopt", lambda b, rel: adopted.append(rel) or adopt(b, rel))
    app = build(settings_for(dovecot, tmp_path / "store", parse_workers=workers))
    try:
        with closing(app.connect()) as source:
            assert app.ingest(source).run_pass().filed == 5
        assert len(threads) == 5 and all(name.startswith(writer) for name in threads)
        records = [app.store.record(i) for i in range(1, 6)]
        paths = sorted(r.raw_path for r in records if r and r.raw_path)
    finally:
        app.close()
    assert len(paths) == 5 and sorted(adopted) == (paths if workers else [])


def test_a_raw_message_the_writer_could_not_store_is_written_by_the_daemon(
    dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raw file the writer thread failed on (a full disk that has room again) is written
    by the daemon itself when it files the message: nothing is lost or left unsynced."""
    for raw in _corpus()[:3]:
        dovecot.append("INBOX", raw)
    failed: list[int] = []
    monkeypatch.setattr(ingest_mod, "_stored", lambda blobs, raws: (failed.extend(raws), {})[1])
    app = build(settings_for(dovecot, tmp_path / "store", parse_workers=1))
    try:
        with closing(app.connect()) as source:
            assert app.ingest(source).run_pass().filed == 3
        assert len(failed) == 3
        for record_id in (1, 2, 3):
            record = app.store.record(record_id)
            assert record is not None and record.raw_path
            raw = app.blobs.read_raw(record.raw_path)
            assert hashlib.sha256(raw).hexdigest() == record.sha256
    finally:
        app.close()


def test_unparseable_and_oversize_go_to_quarantine_at_once(dovecot: Dovecot, app: App) -> None:
    dovecot.append("INBOX", b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n")
    dovecot.append("INBOX", b"Subject: bad\r\n\r\nbad\r\n")
    with closing(app.connect()) as source:
        ingest = app.ingest(source)
        ingest.limits = Limits(max_message_bytes=4000)
        ingest.parse = lambda raw, limits: Unparseable("0", "test: not a message")
        report = ingest.run_pass()
    assert report.quarantined == 2
    reasons = sorted(r.last_error or "" for r in app.store.quarantined())
    assert reasons[0].startswith("too large: 5") and reasons[1].startswith("unparseable: test")


def test_quarantine_retry_files_the_message_after_a_fix(
    dovecot: Dovecot, app: App, tmp_path: Path
) -> None:
    raw = _corpus()[4]
    dovecot.append("INBOX", raw)
    with closing(app.connect()) as source:
        ingest = app.ingest(source)
        ingest.parse = lambda r, limits: Unparseable("0", "rules were broken")
        assert ingest.run_pass().quarantined == 1
    env = env_for(dovecot, tmp_path / "store")
    listed = mailbot(env, "quarantine", "list", cwd=tmp_path)
    assert "rules were broken" in listed.stdout
    [record] = app.store.quarantined()
    retried = mailbot(env, "quarantine", "retry", str(record.id), cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    contents = folder_contents(dovecot)
    assert contents["Cách ly"] == [] and copies(contents) == {hashlib.sha256(raw).hexdigest(): 1}
    assert app.store.record(record.id).state == "moved"  # type: ignore[union-attr]


def _daemon(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_inbox_empty(dovecot: Dovecot, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not folder_contents(dovecot)["INBOX"]:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"INBOX not emptied within {timeout} s")


def test_daemon_files_under_idle_survives_a_server_restart_and_stops_on_sigterm(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """Delivery under IDLE is filed in seconds; a Dovecot restart during IDLE is survived
    (reconnect with backoff, missed mail caught up by UID); SIGTERM stops it cleanly."""
    corpus = _corpus()
    env = env_for(dovecot, tmp_path / "store")
    proc = _daemon(env, tmp_path)
    try:
        time.sleep(1.5)
        dovecot.append("INBOX", corpus[0])
        assert _wait_until_inbox_empty(dovecot, 10) < 5
        dovecot.restart()
        dovecot.append("INBOX", corpus[1])
        _wait_until_inbox_empty(dovecot, 30)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "connection lost" in err and "stopped" in err
    assert sum(copies(folder_contents(dovecot)).values()) == 2
