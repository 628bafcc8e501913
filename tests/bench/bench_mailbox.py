"""Benchmark: mailbot against a real Dovecot: filing throughput, IDLE latency, peak memory.

Run on demand (not collected by pytest; needs ``dovecot-imapd``)::

    python tests/bench/bench_mailbox.py [--messages 2000] [--profile]
                                        [--skip-idle] [--skip-memory]

It starts its own Dovecot (``tests/dovecot.py``) under a temporary directory
and measures, each time beside a baseline taken in the same run:

1. Filing throughput. N messages of ~30 KB (the shared corpus repeated, each
   copy with its own Message-ID and an ``X-Bench-Seq`` header, so nothing is
   a duplicate by hash) are APPENDed to INBOX. Baseline: a bare imapclient
   session fetching them all with ``BODY.PEEK[]``, imapclient as it comes
   (as the issue measured it). For information, the same fetch with
   imaplib's debug level off, as mailbot's own connections have it:
   imapclient's default makes imaplib format every response it reads.
   Then mailbot's ``Daemon(app).run_once()`` with a fresh store files them
   all (parse, classify, decide, SQLite, blobs, outbox, moves), with the
   default parse workers, right after a bare fetch: five such pairs, each
   printed, the ratio taken within each pair (this VM's speed drifts from
   minute to minute; creating a file here took from 6 to 340 µs within one
   hour) and the median kept; then once with no workers. The Maildir is
   restored from a snapshot (Dovecot restarted, then warmed up by an untimed
   fetch) before every pair, so each run sees the same messages. Two floors are
   printed beside them: the stdlib's ``email`` parse alone and mailbot's
   parse + classify alone, in memory, in one process. An instrumented run
   (no workers) splits mailbot's time into phases (exclusive times);
   ``--profile`` adds one under cProfile. The CPU time of the default run's
   processes (the daemon's, the parse workers') is printed too: divided by
   the CPUs, it is the least time that run could take here. Goal: mailbot
   within 5x of the bare fetch. The issue drew that 5x from its own machine,
   where mail-parser's parse took 3.9x the fetch and the rest of the pipeline
   was to add about a quarter: mailbot's best pass is printed against
   mail-parser's parse of the same run too, since that proportion differs
   from machine to machine (6x and more on some VMs here).
2. Delivery latency under IDLE. ``mailbot run`` (the daemon) in a child
   process; K messages APPENDed one at a time, each timed from APPEND until
   it has left INBOX (STATUS polled every 20 ms on a second connection).
   Baseline: a bare imapclient IDLE loop that MOVEs what arrives, measured
   the same way (the floor for any IDLE client). Goal: p95 <= 2 s. The
   daemon gets SIGTERM at the end and must exit 0.
3. Peak memory. A child process files one ~25 MB message (an ~18 MB
   attachment, ~24 MB once base64-encoded) and reports its peak RSS, beside
   a child that only imports mailbot and builds the app. Goal: <= 150 MB.
   Then a child files a backlog of 16 messages of ~5.5 MB (photos, videos),
   which batches bounded in bytes keep from all being in memory at once.

Everything (Dovecot, the daemon, temporary directories) is cleaned up on exit,
Ctrl-C included.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import email
import io
import json
import logging
import os
import pstats
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import mailbot.app.ingest as ingest_mod  # noqa: E402
import mailbot.app.workers as workers_mod  # noqa: E402
from mailbot.app.daemon import Daemon, Stopper  # noqa: E402
from mailbot.app.wiring import build  # noqa: E402
from mailbot.app.workers import default_workers, parse_and_classify  # noqa: E402
from mailbot.config import ImapSettings, Settings  # noqa: E402
from mailbot.core.parse import Limits  # noqa: E402
from mailbot.log import setup_logging  # noqa: E402
from mailbot.rules_file import load_rules  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
PROFILE_TOP = 15
LATENCY_MESSAGES = 30
POLL_SECONDS = 0.02
APPEND_CONNECTIONS = 2
FILING_RUNS = 5
# The issue's own figures (its machine): a bare fetch of 2,016 such messages and
# mail-parser's parse of the same bytes, from which its 5x goal was derived.
ISSUE_BARE_FETCH_S = 0.47
ISSUE_MAILPARSER_S = 1.85
BIG_ATTACHMENT_BYTES = 18 * 1024 * 1024  # ~24 MB base64, ~25 MB message; < 20 MB limit
BACKLOG_MESSAGES = 16  # ... and a backlog of photo/video mail: 16 x ~5.5 MB
BACKLOG_ATTACHMENT_BYTES = 4 * 1024 * 1024

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n")


# -- messages -----------------------------------------------------------------


def corpus() -> list[bytes]:
    files = sorted(CORPUS.glob("*.eml"))
    if not files:
        sys.exit(f"no corpus at {CORPUS}")
    return [f.read_bytes() for f in files]


def unique_copy(raw: bytes, tag: str) -> bytes:
    """``raw`` with a fresh Message-ID and an ``X-Bench-Seq`` header: a new message."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    head = _MESSAGE_ID.sub(b"", head + b"\r\n").rstrip(b"\r\n")
    mid = f"<bench-{tag}@bench.invalid>".encode()
    return f"X-Bench-Seq: {tag}\r\n".encode() + b"Message-ID: " + mid + b"\r\n" + head + sep + body


def make_messages(n: int, prefix: str) -> list[bytes]:
    base = corpus()
    return [unique_copy(base[i % len(base)], f"{prefix}-{i}") for i in range(n)]


def big_message(attachment_bytes: int, seed: int = 25) -> bytes:
    """One mail with a large base64 attachment (random bytes: incompressible, like video)."""
    payload = base64.encodebytes(random.Random(seed).randbytes(attachment_bytes))
    payload = payload.replace(b"\n", b"\r\n")
    head = (
        "From: =?utf-8?B?Q8O0IEdpw6FvIEzDom0=?= <lamnt@thcspomlot.edu.vn>\r\n"
        "To: truyenthong@thcspomlot.edu.vn\r\n"
        "Subject: =?utf-8?B?VmlkZW8gbOG7hSBraGFpIGdp4bqjbmc=?=\r\n"
        "Date: Mon, 09 Mar 2026 08:00:00 +0700\r\n"
        f"Message-ID: <bench-big-{seed}@bench.invalid>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Em gửi video lễ khai giảng của trường ạ.\r\n"
        "\r\n"
        "--b1\r\n"
        'Content-Type: video/mp4; name="le-khai-giang.mp4"\r\n'
        'Content-Disposition: attachment; filename="le-khai-giang.mp4"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
    ).encode()
    return head + payload + b"\r\n--b1--\r\n"


# -- Dovecot ------------------------------------------------------------------


@dataclass
class Server:
    """A benchmark Dovecot and the temporary directories to remove at the end."""

    dovecot: Any = None
    temps: list[Path] = field(default_factory=list)

    def tempdir(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"mailbot-bench-{prefix}-"))
        self.temps.append(path)
        return path

    def close(self) -> None:
        if self.dovecot is not None:
            with contextlib.suppress(Exception):
                self.dovecot.stop()
            shutil.rmtree(self.dovecot.root, ignore_errors=True)
        for path in self.temps:
            shutil.rmtree(path, ignore_errors=True)


def start_dovecot(server: Server) -> Any:
    # Here, not at the top: tests.dovecot imports pytest, which the memory children must not.
    from tests.dovecot import Dovecot, _free_port, _make_root, _write_config  # noqa: PLC0415

    if shutil.which("dovecot") is None:
        sys.exit("dovecot not installed: apt-get install dovecot-imapd")
    root = _make_root()
    dovecot = Dovecot(root=root, port=_free_port(), ssl_port=_free_port())
    server.dovecot = dovecot
    _write_config(root, dovecot.port, dovecot.ssl_port, None)
    dovecot.start()
    return dovecot


def append_all(dovecot: Any, messages: list[bytes], folder: str = "INBOX", conns: int = 1) -> None:
    """APPEND every message, over ``conns`` connections at once (order then interleaves)."""

    def worker(part: list[bytes]) -> None:
        with dovecot.client() as imap:
            for raw in part:
                imap.append(folder, raw)

    if conns <= 1:
        worker(messages)
        return
    errors: list[BaseException] = []

    def guarded(part: list[bytes]) -> None:
        try:
            worker(part)
        except BaseException as exc:  # re-raised below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(messages[i::conns],), daemon=True)
               for i in range(conns)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def snapshot(dovecot: Any, dest: Path) -> None:
    """Copy the user's mail (owners kept: Dovecot runs as ``dovecot`` under root)."""
    dovecot.stop()
    subprocess.run(["cp", "-a", str(dovecot.root / "mail"), str(dest)], check=True)
    dovecot.start()


def restore(dovecot: Any, src: Path) -> None:
    dovecot.stop()
    shutil.rmtree(dovecot.root / "mail")
    subprocess.run(["cp", "-a", str(src), str(dovecot.root / "mail")], check=True)
    dovecot.start()


def wipe_mail(dovecot: Any) -> None:
    dovecot.stop()
    mail = dovecot.root / "mail"
    for child in mail.iterdir():
        shutil.rmtree(child)
    dovecot.start()


def inbox_count(imap: Any) -> int:
    return int(imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


def settings_for(dovecot: Any, store: Path, workers: int | None = None) -> Settings:
    """The demo defaults pointed at the benchmark Dovecot (as tests/app/helpers.py)."""
    return replace(
        Settings(),
        imap=ImapSettings(
            host=dovecot.host,
            port=dovecot.port,
            security="none",
            user=dovecot.user,
            password=dovecot.password,
            parse_workers=workers,
        ),
        store_dir=store,
    )


# -- 1. filing throughput -----------------------------------------------------


def bare_fetch(dovecot: Any, batch: int, *, quiet: bool = False) -> tuple[float, int, int]:
    """SELECT INBOX and fetch every message with BODY.PEEK[]; (seconds, count, bytes).

    With ``quiet``, imaplib's debug level is set back to 0 as mailbot's own
    connections do (``shell/imap.py``): imapclient sets it to 5, which makes
    imaplib format every response it reads, fetched messages included.
    """
    start = time.perf_counter()
    with dovecot.client() as imap:
        if quiet:
            imap._imap.debug = 0
        imap.select_folder("INBOX", readonly=True)
        uids = imap.search("ALL")
        total = count = 0
        for i in range(0, len(uids), batch):
            for data in imap.fetch(uids[i : i + batch], [b"BODY.PEEK[]"]).values():
                total += len(data[b"BODY[]"])
                count += 1
    return time.perf_counter() - start, count, total


@dataclass
class Phases:
    """Exclusive wall time per phase, for wrapped callables that may nest.

    Phases run in another thread (``BESIDE``) are timed on a stack of their
    own, and are not part of the main thread's time.
    """

    totals: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            frame = [time.perf_counter(), 0.0]  # start, time spent in nested phases
            stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                stack.pop()
                spent = time.perf_counter() - frame[0]
                self.totals[name] = self.totals.get(name, 0.0) + spent - frame[1]
                self.calls[name] = self.calls.get(name, 0) + 1
                if stack:
                    stack[-1][1] += spent

        return timed


BESIDE = "blobs: raw .eml (writer thread, beside)"


def instrument(app: Any, phases: Phases) -> None:
    """Wrap the pipeline's steps (on this app's objects and the ingest module)."""
    store_phase = {
        "claim": "store: claim",
        "find_processed": "store: claim",
        "file_message": "store: file_message",
        "mark_moved": "store: mark_moved/sync",
        "save_sync_state": "store: mark_moved/sync",
        "sync_state": "store: mark_moved/sync",
        "reply_counts": "decide (facts queries)",
        "thread_root": "decide (facts queries)",
        "by_ref": "decide (facts queries)",
        "next_ref": "decide (facts queries)",
        "find_by_message_id": "decide (facts queries)",
    }
    for name, phase in store_phase.items():
        setattr(app.store, name, phases.wrap(phase, getattr(app.store, name)))
    app.blobs.put_raw = phases.wrap("blobs: raw .eml (the daemon's own)", app.blobs.put_raw)
    app.blobs.put_attachment = phases.wrap("blobs: attachments", app.blobs.put_attachment)
    app.send_queued = phases.wrap("outbox drain (file sender)", app.send_queued)
    for owner, name, phase in (
        (ingest_mod, "_stored", BESIDE),
        (workers_mod, "classify", "classify"),
        (ingest_mod.Ingest, "_decide", "decide (pure)"),
        (ingest_mod.Ingest, "_compose", "compose replies"),
    ):
        setattr(owner, name, phases.wrap(phase, getattr(owner, name)))

    connect, make_ingest = app.connect, app.ingest

    def connect_timed() -> Any:
        source = phases.wrap("imap: connect/login", connect)()
        for name, phase in (
            ("select", "imap: select/search"),
            ("uids_after", "imap: select/search"),
            ("sizes", "imap: fetch (sizes + BODY.PEEK[])"),
            ("fetch_raw", "imap: fetch (sizes + BODY.PEEK[])"),
            ("ensure_folder", "imap: moves"),
            ("move", "imap: moves"),
            ("close", "imap: select/search"),
        ):
            setattr(source, name, phases.wrap(phase, getattr(source, name)))
        return source

    def ingest_timed(source: Any, stop: Callable[[], bool] = lambda: False) -> Any:
        ing = make_ingest(source, stop)
        ing.parse = phases.wrap("parse", ing.parse)
        return ing

    app.connect, app.ingest = connect_timed, ingest_timed


@dataclass
class CpuUse:
    """CPU seconds (user + system) one pass took, per process (Linux only)."""

    daemon: float = 0.0
    workers: float = 0.0


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _workers_cpu(app: Any) -> float:
    """CPU seconds of the app's live parse workers so far, from /proc."""
    executor = app.pool._executor if app.pool is not None else None
    total = 0.0
    for pid in getattr(executor, "_processes", None) or {}:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def mailbot_pass(  # noqa: PLR0917 - a benchmark helper
    dovecot: Any,
    store: Path,
    phases: Phases | None = None,
    profile: cProfile.Profile | None = None,
    limit: int | None = None,
    workers: int | None = None,
    cpu: CpuUse | None = None,
) -> tuple[float, Any]:
    """Build a fresh app, time one ``Daemon.run_once()`` (app build excluded).

    With ``limit`` the pass stops, as on SIGTERM, once that many messages were
    met. With ``cpu``, the CPU time of the daemon's process and of its parse
    workers is recorded there.
    """
    app = build(settings_for(dovecot, store, workers))
    try:
        if phases is not None:
            instrument(app, phases)
        daemon = Daemon(app)
        if limit is not None:
            stopper = _StopAfter(limit=limit)
            daemon.stopper = stopper
            app.ingest = _counting(app.ingest, stopper)  # type: ignore[method-assign]
        start, cpu_start = time.perf_counter(), _self_cpu()
        if profile is not None:
            profile.enable()
        try:
            report = daemon.run_once()
        finally:
            if profile is not None:
                profile.disable()
        elapsed = time.perf_counter() - start
        if cpu is not None:
            cpu.daemon, cpu.workers = _self_cpu() - cpu_start, _workers_cpu(app)
        return elapsed, report
    finally:
        app.close()


@dataclass
class _StopAfter(Stopper):
    """A stop flag raised once ``limit`` messages were met (``Ingest`` asks before each)."""

    limit: int = 0
    seen: int = 0

    def __call__(self) -> bool:
        return self.seen >= self.limit


def _counting(make_ingest: Callable[..., Any], stopper: _StopAfter) -> Callable[..., Any]:
    def make(source: Any, stop: Callable[[], bool] = lambda: False) -> Any:
        ing = make_ingest(source, stop)
        one = ing._one

        def counted(*args: Any) -> Any:
            stopper.seen += 1
            return one(*args)

        ing._one = counted
        return ing

    return make


@contextlib.contextmanager
def restored_ingest() -> Iterator[None]:
    """Undo ``instrument``'s module-level wraps."""
    names = (
        (ingest_mod, "_stored"),
        (workers_mod, "classify"),
        (ingest_mod.Ingest, "_decide"),
        (ingest_mod.Ingest, "_compose"),
    )
    saved = [(owner, name, vars(owner)[name]) for owner, name in names]
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def bench_filing(server: Server, n: int, profile: bool, sample: int) -> None:
    dovecot = server.dovecot
    messages = make_messages(n, "t")
    size = sum(len(m) for m in messages)
    print(f"== 1. Filing throughput: {n} messages, {size / 1e6:.1f} MB "
          f"(avg {size / n / 1024:.1f} KiB) ==")  # fmt: skip
    start = time.perf_counter()
    append_all(dovecot, messages, conns=APPEND_CONNECTIONS)
    append_s = time.perf_counter() - start
    snap = server.tempdir("snapshot") / "mail"
    snapshot(dovecot, snap)

    # Logging as `mailbot run` sets it up (one INFO line per message), to a file.
    setup_logging("INFO", server.tempdir("log") / "mailbot.log")

    stdlib_s, mailparser_s, core_s = cpu_floor(messages)

    # Each mailbot run right after a bare fetch, both after the same Dovecot
    # restart and an untimed fetch that warms Dovecot up for both: this VM's
    # speed drifts by half from minute to minute, so a ratio is taken within
    # each pair, beside the best of each.
    bare_fetch(dovecot, 500)
    quiet_s = min(bare_fetch(dovecot, 500, quiet=True)[0] for _ in range(FILING_RUNS))
    fetch_runs: list[tuple[float, int, int]] = []
    runs: list[tuple[float, Any, CpuUse]] = []
    for i in range(FILING_RUNS):
        if i:
            restore(dovecot, snap)
        bare_fetch(dovecot, 500)
        fetch_runs.append(bare_fetch(dovecot, 500))
        assert fetch_runs[-1][1] == n, f"bare fetch saw {fetch_runs[-1][1]} of {n}"
        cpu = CpuUse()
        secs, report = mailbot_pass(dovecot, server.tempdir("store"), cpu=cpu)
        runs.append((secs, report, cpu))
    fetch_s = min(fetch_runs)[0]
    mailbot_s, report, cpu = min(runs, key=lambda run: run[0])
    paired = sorted(run[0] / fetch[0] for run, fetch in zip(runs, fetch_runs, strict=True))
    restore(dovecot, snap)
    inline_s, _ = mailbot_pass(dovecot, server.tempdir("store"), workers=0)
    if report.filed + report.quarantined != n:
        print(f"!! mailbot filed {report.filed}, quarantined {report.quarantined} of {n}")
    with dovecot.client() as imap:
        left = inbox_count(imap)

    sample = min(sample, n)
    restore(dovecot, snap)
    phases = Phases()
    with restored_ingest():
        phased_s, _ = mailbot_pass(
            dovecot, server.tempdir("store"), phases, limit=sample, workers=0
        )

    prof_s = None
    prof = cProfile.Profile() if profile else None
    if prof is not None:
        restore(dovecot, snap)
        prof_s, _ = mailbot_pass(
            dovecot, server.tempdir("store"), profile=prof, limit=sample, workers=0
        )

    print(f"\n{'step':44} {'seconds':>8} {'msg/s':>8} {'vs bare fetch':>14}")
    rows = [
        (f"APPEND, {APPEND_CONNECTIONS} connections (setup, info)", append_s, n),
        ("bare imapclient fetch BODY.PEEK[] (baseline)", fetch_s, n),
        ("  the same, imaplib's debug off (info)", quiet_s, n),
        ("  floor: stdlib email parse only, in memory", stdlib_s, n),
        ("  floor: mail-parser parse only, in memory", mailparser_s, n),
        ("  floor: mailbot parse + classify, in memory", core_s, n),
        (f"mailbot run_once(), parse_workers: {default_workers()}", mailbot_s, n),
        ("mailbot run_once(), parse_workers: 0", inline_s, n),
        (f"  first {sample}, parse_workers: 0, instrumented", phased_s, sample),
    ]
    if prof_s is not None:
        rows.append((f"  first {sample}, parse_workers: 0, cProfile", prof_s, sample))
    for name, secs, count in rows:
        rate = count / secs
        print(f"{name:44} {secs:8.2f} {rate:8.0f} {n / fetch_s / rate:13.1f}x")
    print(f"\nmailbot: {report.filed} filed, {report.quarantined} quarantined, "
          f"{report.duplicates} duplicates, {report.failed} to retry, {report.moved} moved; "
          f"{left} left in INBOX")  # fmt: skip
    ratio = paired[len(paired) // 2]
    verdict = "MET" if ratio <= 5 else "NOT MET"
    each = "; ".join(
        f"{fetch[0]:.2f} s then {run[0]:.2f} s ({run[0] / fetch[0]:.1f}x)"
        for run, fetch in zip(runs, fetch_runs, strict=True)
    )
    print(f"bare fetch, then mailbot (default workers), in {FILING_RUNS} pairs: {each}")
    print(f"mailbot vs bare fetch: median of the pairs {ratio:.1f}x slower "
          f"(goal <= 5x: {verdict}); best of each {mailbot_s / fetch_s:.1f}x")  # fmt: skip
    print(
        f"(the baseline is imapclient as it comes, as in the issue; {fetch_s / quiet_s:.1f}x of "
        "it is imaplib formatting each response for its debug log, which mailbot turns off)"
    )
    budget = ISSUE_BARE_FETCH_S * 5 / ISSUE_MAILPARSER_S
    print(
        f"(the issue's 5x is mail-parser's parse plus about a quarter, {budget:.2f}x of it, where "
        f"mail-parser took {ISSUE_MAILPARSER_S / ISSUE_BARE_FETCH_S:.1f}x the bare fetch; here "
        f"it takes {mailparser_s / fetch_s:.1f}x, and mailbot's best pass "
        f"{mailbot_s / mailparser_s:.2f}x of mail-parser's parse alone)"
    )
    cpus = len(os.sched_getaffinity(0))
    floor = (cpu.daemon + cpu.workers) / cpus
    print(
        f"CPU of that run: daemon process (its writer thread included) {cpu.daemon:.2f} s, "
        f"parse workers {cpu.workers:.2f} s (Dovecot not counted); on {cpus} CPUs that work "
        f"alone takes at least {floor:.2f} s = {floor / fetch_s:.1f}x the bare fetch"
    )

    accounted = sum(secs for name, secs in phases.totals.items() if name != BESIDE)
    phases.totals["other (loop, hashing, logging, ORM glue)"] = max(phased_s - accounted, 0.0)
    print(f"\nWhere mailbot's time goes (first {sample} messages, {phased_s:.2f} s, "
          "exclusive wall time per phase; the writer thread's beside the rest):")  # fmt: skip
    print(f"{'phase':44} {'seconds':>8} {'share':>7} {'ms/msg':>8} {'calls':>7}")
    for name, secs in sorted(phases.totals.items(), key=lambda kv: -kv[1]):
        calls = phases.calls.get(name, 0)
        print(f"{name:44} {secs:8.2f} {secs / phased_s:6.0%} {secs / sample * 1000:8.2f} "
              f"{calls:7}")  # fmt: skip

    if prof is not None:
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(PROFILE_TOP)
        print(f"\ncProfile, top {PROFILE_TOP} by cumulative time:")
        print(_stats_table(out.getvalue()))
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(PROFILE_TOP)
        print(f"\ncProfile, top {PROFILE_TOP} by own time:")
        print(_stats_table(out.getvalue()))


def cpu_floor(messages: list[bytes]) -> tuple[float, float, float]:
    """Seconds, in one process, for: the stdlib's parse alone, mail-parser's parse
    alone (the issue's yardstick), and mailbot's parse + classify.

    No store, no IMAP: what a pipeline built on Python's ``email`` package
    pays per message at least, beside the bare fetch of the same run.
    """
    # Here, not at the top: the memory children must not carry mail-parser.
    import mailparser  # noqa: PLC0415

    start = time.perf_counter()
    for raw in messages:
        email.message_from_bytes(raw)
    stdlib_s = time.perf_counter() - start
    start = time.perf_counter()
    for raw in messages:
        mailparser.parse_from_bytes(raw)
    mailparser_s = time.perf_counter() - start
    settings = Settings()
    rules, limits = load_rules(settings.rules_dir), Limits()
    start = time.perf_counter()
    for raw in messages:
        parse_and_classify(raw, limits, rules, settings.trust)
    return stdlib_s, mailparser_s, time.perf_counter() - start


def _stats_table(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("ncalls"):
            return "\n".join(lines[i:]).rstrip()
    return text.rstrip()


# -- 2. delivery latency under IDLE ---------------------------------------------


def measure_latency(dovecot: Any, messages: list[bytes], gap: float) -> list[float]:
    """Per message: seconds from the start of its APPEND until INBOX is empty again."""
    out: list[float] = []
    with dovecot.client() as writer, dovecot.client() as watcher:
        for raw in messages:
            start = time.perf_counter()
            writer.append("INBOX", raw)
            deadline = start + 60
            while inbox_count(watcher) > 0:
                if time.perf_counter() > deadline:
                    raise RuntimeError("a message stayed in INBOX for 60 s")
                time.sleep(POLL_SECONDS)
            out.append(time.perf_counter() - start)
            time.sleep(gap)
    return out


def idle_mover(dovecot: Any, ready: threading.Event, stop: threading.Event) -> None:
    """The floor: a bare imapclient IDLE loop that MOVEs whatever arrives."""
    with dovecot.client() as imap:
        imap.create_folder("BenchBaseline")
        imap.select_folder("INBOX")
        while not stop.is_set():
            imap.idle()
            ready.set()
            arrived = False
            while not arrived and not stop.is_set():
                arrived = any(r[1] == b"EXISTS" for r in imap.idle_check(timeout=0.2)
                              if isinstance(r, tuple) and len(r) > 1)  # fmt: skip
            imap.idle_done()
            uids = imap.search("ALL")
            if uids:
                imap.move(uids, "BenchBaseline")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_daemon(dovecot: Any, store: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(
        MAILBOT_IMAP_HOST=dovecot.host,
        MAILBOT_IMAP_PORT=str(dovecot.port),
        MAILBOT_IMAP_SECURITY="none",
        MAILBOT_IMAP_USER=dovecot.user,
        MAILBOT_IMAP_PASSWORD=dovecot.password,
        MAILBOT_STORE_DIR=str(store),
        PYTHONPATH=str(ROOT),
    )
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run"],
            env=env,
            cwd=store.parent,  # no ./mailbot.yaml there: the demo defaults
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,  # Ctrl-C is ours to forward, as SIGTERM
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return int(proc.returncode)


def bench_latency(server: Server) -> None:
    dovecot = server.dovecot
    k = LATENCY_MESSAGES
    print(f"\n== 2. Delivery latency under IDLE: {k} messages, one at a time ==")
    gap = 0.3

    ready, stop = threading.Event(), threading.Event()
    mover = threading.Thread(target=idle_mover, args=(dovecot, ready, stop), daemon=True)
    mover.start()
    ready.wait(10)
    try:
        floor = measure_latency(dovecot, make_messages(k, "floor"), gap)
    finally:
        stop.set()
        mover.join(10)

    work = server.tempdir("daemon")
    store, log = work / "store", work / "daemon.log"
    proc = start_daemon(dovecot, store, log)
    try:
        start = time.perf_counter()
        warm = measure_latency(dovecot, make_messages(1, "warm"), 1.0)  # daemon up and idle
        ready_s = time.perf_counter() - start
        daemon = measure_latency(dovecot, make_messages(k, "idle"), gap)
    except BaseException:
        stop_process(proc)
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    code = stop_process(proc)
    del warm

    print(f"(daemon start-up until its first message left INBOX: {ready_s:.2f} s)\n")
    print(f"{'APPEND -> gone from INBOX':44} {'median s':>9} {'p95 s':>7} {'max s':>7} "
          f"{'vs floor':>9}")  # fmt: skip
    fmed = statistics.median(floor)
    for name, vals in (
        ("bare IDLE + MOVE loop (floor, baseline)", floor),
        ("mailbot run (daemon, IDLE)", daemon),
    ):
        med = statistics.median(vals)
        print(f"{name:44} {med:9.3f} {_pct(vals, 0.95):7.3f} {max(vals):7.3f} "
              f"{med / fmed:8.1f}x")  # fmt: skip
    print(f"{'60 s polling (computed, not run)':44} {30.0:9.3f} {57.0:7.3f} {60.0:7.3f} "
          f"{30.0 / fmed:8.1f}x")  # fmt: skip
    p95 = _pct(daemon, 0.95)
    print(f"\nmailbot p95 {p95:.3f} s (goal <= 2 s: {'MET' if p95 <= 2 else 'NOT MET'}); "
          f"SIGTERM -> exit {code} ({'OK' if code == 0 else 'FAILED'})")  # fmt: skip
    if code != 0:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)


# -- 3. peak memory ---------------------------------------------------------------


def memory_child(mode: str, port: int, store: Path) -> None:
    """Run in a fresh interpreter: build the app, maybe file the mailbox once."""
    user, _, password = os.environ["BENCH_IMAP_LOGIN"].partition(" ")
    dovecot = types.SimpleNamespace(host="127.0.0.1", port=port, user=user, password=password)
    app = build(settings_for(dovecot, store / "store"))
    result: dict[str, Any] = {}
    try:
        if mode == "file":
            start = time.perf_counter()
            report = Daemon(app).run_once()
            result.update(seconds=time.perf_counter() - start, filed=report.filed,
                          quarantined=report.quarantined, moved=report.moved)  # fmt: skip
        result["workers_hwm_mb"] = [_vm_hwm_mb(pid) for pid in _worker_pids(app)]
    finally:
        app.close()
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["hwm_mb"] = _vm_hwm_mb()
    print(json.dumps(result))


def _worker_pids(app: Any) -> list[int]:
    executor = app.pool._executor if app.pool is not None else None
    return list(getattr(executor, "_processes", None) or {})


def _vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak RSS of a process image (``VmHWM``), which starts afresh at execve.

    ``ru_maxrss`` does not: Linux keeps it across execve, so a child started
    by a parent holding 250 MB reports at least those 250 MB.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(dovecot: Any, mode: str, store: Path) -> dict[str, Any]:
    """A fresh interpreter (not importing pytest or tests.dovecot), so its peak is its own."""
    port = str(dovecot.port)
    cmd = [sys.executable, __file__, "--child", mode, "--port", port, "--store", str(store)]
    env = dict(os.environ, BENCH_IMAP_LOGIN=f"{dovecot.user} {dovecot.password}")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory child {mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_memory(server: Server) -> None:
    dovecot = server.dovecot
    raw = big_message(BIG_ATTACHMENT_BYTES)
    print(f"\n== 3. Peak memory: one {len(raw) / 2**20:.1f} MiB message "
          f"({BIG_ATTACHMENT_BYTES / 2**20:.0f} MiB attachment, base64) ==")  # fmt: skip
    wipe_mail(dovecot)
    append_all(dovecot, [raw])
    del raw
    base = run_child(dovecot, "baseline", server.tempdir("mem-base"))
    filed = run_child(dovecot, "file", server.tempdir("mem-file"))
    print(f"\n{'process':44} {'peak RSS MB':>11} {'vs baseline':>12} {'ru_maxrss MB':>13}")
    for name, res in (
        ("import mailbot + build app (baseline)", base),
        ("same + run_once() filing the message", filed),
    ):
        print(f"{name:44} {res['hwm_mb']:11.1f} {res['hwm_mb'] / base['hwm_mb']:11.1f}x "
              f"{res['maxrss_mb']:13.1f}")  # fmt: skip
    print("(peak RSS is the child's VmHWM; ru_maxrss is shown for reference only: Linux keeps "
          "it across execve,\n so it starts at the RSS of the benchmark process that forked "
          "the child)")  # fmt: skip
    peak = filed["hwm_mb"]
    print(f"\nfiling took {filed['seconds']:.2f} s: {filed['filed']} filed, "
          f"{filed['quarantined']} quarantined, {filed['moved']} moved; "
          f"{peak - base['hwm_mb']:.1f} MB above the baseline")  # fmt: skip
    print(f"peak {peak:.1f} MB (goal <= 150 MB: {'MET' if peak <= 150 else 'NOT MET'})")

    backlog = [big_message(BACKLOG_ATTACHMENT_BYTES, seed) for seed in range(BACKLOG_MESSAGES)]
    size = sum(len(m) for m in backlog)
    wipe_mail(dovecot)
    append_all(dovecot, backlog)
    del backlog
    filed = run_child(dovecot, "file", server.tempdir("mem-backlog"))
    workers = filed.get("workers_hwm_mb") or []
    each = size / BACKLOG_MESSAGES / 2**20
    print(f"\nA backlog of {BACKLOG_MESSAGES} messages of {each:.1f} MiB "
          f"({size / 2**20:.0f} MiB) filed in {filed['seconds']:.2f} s "
          f"({filed['filed']} filed): daemon peak {filed['hwm_mb']:.1f} MB "
          f"({filed['hwm_mb'] - base['hwm_mb']:.1f} above the baseline); parse workers "
          f"{', '.join(f'{w:.1f}' for w in workers) or 'none started'} MB")  # fmt: skip


# -- main ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="add a cProfile run to step 1")
    parser.add_argument("--sample", type=int, default=300,
                        help="messages in the phase-timing (and --profile) runs")  # fmt: skip
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-filing", action="store_true")
    parser.add_argument("--child", choices=("baseline", "file"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child, args.port, args.store)
        return

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    logging.getLogger("mailbot").setLevel(logging.WARNING)
    server = Server()
    started = time.perf_counter()
    try:
        start_dovecot(server)
        if not args.skip_filing:
            bench_filing(server, args.messages, args.profile, args.sample)
        if not args.skip_idle:
            bench_latency(server)
        if not args.skip_memory:
            bench_memory(server)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        sys.exit(130)
    finally:
        server.close()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
