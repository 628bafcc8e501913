"""The parse pool: real worker processes give what parsing in the daemon gives, and a
worker's death is pinned on the one message that caused it."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from mailbot.app import ingest as ingest_mod
from mailbot.app import workers as workers_mod
from mailbot.app.daemon import Daemon
from mailbot.app.wiring import App, build
from mailbot.app.workers import MIN_POOLED_BATCH, Parsed, ParsePool, parse_and_classify
from mailbot.config import Settings
from mailbot.core.model import Mail
from mailbot.core.parse import Limits
from mailbot.core.rules import RuleSet
from mailbot.rules_file import load_rules
from tests.app import dying_parser
from tests.app.helpers import ROOT, copies, folder_contents, settings_for
from tests.corpus import corpus_dir
from tests.dovecot import Dovecot

LIMITS = Limits()
TRUST = Settings().trust


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(ROOT / "rules")


def _corpus(n: int) -> dict[int, bytes]:
    paths = sorted(corpus_dir().glob("d*.eml"))[:n]
    return {uid: p.read_bytes() for uid, p in enumerate(paths, 1)}


def test_workers_give_what_the_daemon_would(
    rules: RuleSet, caplog: pytest.LogCaptureFixture
) -> None:
    raws = _corpus(12)
    pool = ParsePool(LIMITS, rules, TRUST, workers=2)
    try:
        pending = pool.submit(raws)
        assert pending.chunks, "a batch this large goes to the workers"
        got = pending.results()
    finally:
        pool.close()
    assert [r.getMessage() for r in caplog.records if r.levelname != "DEBUG"] == []  # a clean stop
    want = {uid: parse_and_classify(raw, LIMITS, rules, TRUST) for uid, raw in raws.items()}
    assert got == want
    assert all(isinstance(p.mail, Mail) and p.classification for p in got.values())


def test_a_small_batch_is_parsed_in_this_process(rules: RuleSet) -> None:
    pool = ParsePool(LIMITS, rules, TRUST, workers=2)
    pending = pool.submit(_corpus(MIN_POOLED_BATCH - 1))
    assert pending.chunks == [] and len(pending.done) == MIN_POOLED_BATCH - 1
    pool.close()


def test_a_dying_worker_costs_only_its_message(rules: RuleSet) -> None:
    raws = _corpus(12)
    killer = raws[5].replace(b"\n", b"\n" + dying_parser.KILL_MARK + b"\r\n", 1)
    raws[5] = killer
    pool = ParsePool(LIMITS, rules, TRUST, workers=2, parse=dying_parser.parse)
    try:
        got = pool.submit(raws).results()
        again = pool.submit(_corpus(10)).results()  # the pool was started afresh
    finally:
        pool.close()
    assert got[5].mail is None and "died" in str(got[5].error)
    assert all(isinstance(got[uid].mail, Mail) for uid in raws if uid != 5)
    assert all(isinstance(p.mail, Mail) for p in again.values())


def test_errors_come_back_as_values(rules: RuleSet) -> None:
    def broken(raw: bytes, limits: Limits) -> Mail:
        raise ValueError("parser bug")

    parsed = parse_and_classify(b"Subject: x\r\n\r\nx", LIMITS, rules, TRUST, broken)
    assert parsed == Parsed(None, error=parsed.error)
    assert isinstance(parsed.error, RuntimeError) and "ValueError: parser bug" in str(parsed.error)


@pytest.fixture
def pooled_app(dovecot: Dovecot, tmp_path: Path) -> Iterator[App]:
    application = build(settings_for(dovecot, tmp_path / "store", batch_size=10, parse_workers=2))
    assert application.pool is not None
    yield application
    application.close()


@pytest.mark.imap
def test_pipelined_pass_with_workers_files_everything_once(
    dovecot: Dovecot, pooled_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 10 parsed one ahead by two workers, moves every 15: all filed, moved once."""
    monkeypatch.setattr(ingest_mod, "MOVE_EVERY", 15)
    raws = list(_corpus(48).values())
    for raw in raws:
        dovecot.append("INBOX", raw)
    report = Daemon(pooled_app).run_once()
    assert (report.seen, report.filed + report.quarantined, report.moved) == (48, 48, 48)
    contents = folder_contents(dovecot)
    assert contents["INBOX"] == []
    assert sum(copies(contents).values()) == 48
    assert pooled_app.store.counts().by_state == {"moved": 48}
    with pooled_app.store.connection() as conn:
        stored = conn.exec_driver_sql("SELECT sha256, raw_path FROM messages").all()
    for sha, raw_path in stored:  # written beside the workers, synced by the daemon
        assert hashlib.sha256(pooled_app.blobs.read_raw(raw_path)).hexdigest() == sha
    assert len(stored) == 48
    with closing(pooled_app.connect()) as source:
        assert pooled_app.ingest(source).run_pass().seen == 0


_OWNER = """
import sys, time
from pathlib import Path
from mailbot.app.workers import ParsePool
from mailbot.config import Settings
from mailbot.core.parse import Limits
from mailbot.rules_file import load_rules

if __name__ == "__main__":
    pool = ParsePool(Limits(), load_rules(Path(sys.argv[1])), Settings().trust, workers=1)
    if sys.argv[2] == "started":
        pool.submit({i: b"Subject: x\\r\\n\\r\\nbody" for i in range(10)}).results()
    else:  # the worker is still starting (importing) when this process ends
        pool._ready().submit(sum, ())
    print(*pool._executor._processes, flush=True)  # the worker pids, for the test
    time.sleep(60)
"""


@pytest.mark.parametrize("when", ["started", "starting"])
def test_workers_end_when_the_daemon_is_killed(tmp_path: Path, when: str) -> None:
    """SIGKILL leaves no orphan: a worker notices its parent is gone and exits, even one
    that was still starting when the daemon died."""
    script = tmp_path / "owner.py"
    script.write_text(_OWNER, encoding="utf-8")
    owner = subprocess.Popen(
        [sys.executable, str(script), str(ROOT / "rules"), when],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert owner.stdout is not None
    with owner.stdout:
        workers = [int(pid) for pid in owner.stdout.readline().split()]
        assert workers
        owner.kill()
        owner.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


_DYING = """
import sys
from pathlib import Path
from mailbot.app.workers import ParsePool
from mailbot.config import Settings
from mailbot.core.parse import Limits
from mailbot.rules_file import load_rules
from tests.app import dying_parser

if __name__ == "__main__":
    pool = ParsePool(Limits(), load_rules(Path(sys.argv[1])), Settings().trust, 2,
                     parse=dying_parser.parse)
    corpus = sorted(Path(sys.argv[2]).glob("d*.eml"))[:12]
    raws = {i: p.read_bytes() for i, p in enumerate(corpus)}
    raws[3] = dying_parser.KILL_MARK + b"\\r\\n" + raws[3]
    print(sorted(uid for uid, parsed in pool.submit(raws).results().items() if parsed.error))
    pool.close()
"""


def test_a_process_whose_worker_died_can_still_exit(tmp_path: Path) -> None:
    """Python 3.11's broken executor waits for the surviving workers at exit; they are killed."""
    script = tmp_path / "dying.py"
    script.write_text(_DYING, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(ROOT / "rules"), str(corpus_dir())],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[3]"), done.stderr


def test_warm_starts_the_workers_in_the_background(
    rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches met while the workers start are parsed here; the next go to the workers."""
    pool = ParsePool(LIMITS, rules, TRUST, workers=1)
    try:
        pool.warm(MIN_POOLED_BATCH - 1)
        assert pool._warming is None and pool._executor is None  # too few to be worth it
        gate = threading.Event()
        start = pool._start
        monkeypatch.setattr(pool, "_start", lambda: (gate.wait(10), start()))
        pool.warm(500)
        early = pool.submit(_corpus(10))
        assert early.chunks == []
        assert len(early.results()) == 10  # parsed here
        gate.set()
        assert pool._warming is not None
        pool._warming.join(30)
        late = pool.submit(_corpus(10))
        assert late.chunks
        assert len(late.results()) == 10  # by a worker
    finally:
        pool.close()


_IMPORTS = """
import os
import sys
from pathlib import Path

with open(os.environ["IMPORTS_LOG"], "a", encoding="utf-8") as log:
    print(__name__, file=log)

from mailbot.app.workers import ParsePool
from mailbot.config import Settings
from mailbot.core.parse import Limits
from mailbot.rules_file import load_rules

if __name__ == "__main__":
    pool = ParsePool(Limits(), load_rules(Path(sys.argv[1])), Settings().trust, workers=1)
    parsed = pool.submit({i: b"Subject: x\\r\\n\\r\\nbody" for i in range(10)}).results()
    pool.close()
    print(len(parsed))
"""


def test_a_worker_does_not_run_the_daemons_script(tmp_path: Path) -> None:
    """Spawn would import the daemon's script (the whole CLI) in every worker; it is skipped."""
    script, imports = tmp_path / "daemon.py", tmp_path / "imports.log"
    script.write_text(_IMPORTS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(ROOT / "rules")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT), "IMPORTS_LOG": str(imports)},
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "10"), done.stderr
    assert imports.read_text(encoding="utf-8").split() == ["__main__"]


@pytest.mark.parametrize("fails_at", ["start", "submit"])
def test_a_pool_that_cannot_start_parses_here(
    rules: RuleSet, fails_at: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No /dev/shm, or a process limit: one error in the log, then parsing in the daemon."""
    made: list[object] = []

    class Unstartable:
        def __init__(self, *args: object, **kwargs: object) -> None:
            made.append(self)
            if fails_at == "start":
                raise OSError(errno.ENOSYS, "Function not implemented")

        def submit(self, *args: object, **kwargs: object) -> object:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            pass

    monkeypatch.setattr(workers_mod, "ProcessPoolExecutor", Unstartable)
    pool = ParsePool(LIMITS, rules, TRUST, workers=2)
    first = pool.submit(_corpus(12))
    second = pool.submit(_corpus(12))
    pool.warm(1000)
    pool.close()
    assert first.chunks == [] and second.chunks == []
    assert all(isinstance(p.mail, Mail) for p in first.results().values())
    assert len(made) == 1  # tried once, not for every batch
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "cannot start parse workers" in errors[0]


def test_close_kills_a_worker_stuck_in_a_parse(
    rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that never finishes must not keep the daemon from stopping."""
    monkeypatch.setattr(workers_mod, "CLOSE_SECONDS", 1.0)
    raws = _corpus(10)
    raws[3] = dying_parser.HANG_MARK + b"\r\n" + raws[3]
    pool = ParsePool(LIMITS, rules, TRUST, workers=1, parse=dying_parser.hang)
    pending = pool.submit(raws)
    assert pending.chunks
    assert pool._executor is not None
    [worker] = pool._executor._processes.values()
    time.sleep(0.5)  # the worker is in the marked message's parse by now, or soon
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 10
    worker.join(5)
    assert not worker.is_alive()
