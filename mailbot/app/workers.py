"""Parsing and classifying a batch in worker processes, beside the filing of the last one.

Parsing and classifying are pure CPU work (``core.parse``, ``core.classify``)
and most of a backlog's cost; the ledger, the files and the IMAP moves must
stay in the daemon's one process, in order. So while the daemon files batch
N, a pool of worker processes parses batch N+1. The pool is started in the
background when a pass first meets a backlog (batches are parsed in the
daemon until it is ready) and lives as long as the app. Each worker
receives the rules once, when it starts.

A worker that dies (a parser crash in C code, the kernel's OOM killer) takes
only the messages it held: they count as failed attempts, the pool is started
again, and the daemon goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_exit
from multiprocessing.popen_spawn_posix import Popen

from mailbot.core.classify import classify
from mailbot.core.model import Classification, Mail, Unparseable
from mailbot.core.parse import Limits, parse_message
from mailbot.core.rules import RuleSet
from mailbot.core.trust import TrustPolicy

__all__ = ["ParsePool", "Parsed", "Pending", "default_workers", "parse_and_classify", "parse_here"]

log = logging.getLogger("mailbot.workers")

MAX_DEFAULT_WORKERS = 4
# Batches smaller than this are parsed in the daemon's process: a message
# announced by IDLE is filed sooner without the round trip.
MIN_POOLED_BATCH = 8
CHUNKS_PER_WORKER = 2
PARENT_CHECK_SECONDS = 1.0
CLOSE_SECONDS = 5.0

Parser = Callable[[bytes, Limits], Mail | Unparseable]


@dataclass(frozen=True, slots=True)
class Parsed:
    """One message parsed and classified, or the error of a parser or classifier bug."""

    mail: Mail | Unparseable | None
    classification: Classification | None = None
    error: Exception | None = None


def default_workers() -> int:
    """One worker per CPU this process may use but one (the daemon's), at most 4.

    Measured on two CPUs (``tests/bench/bench_mailbox.py``): one worker
    files a backlog about 1.4 times as fast as none, two workers no faster
    than none, as they take the CPU the daemon's own work needs.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(cpus - 1, MAX_DEFAULT_WORKERS))


def parse_and_classify(
    raw: bytes, limits: Limits, rules: RuleSet, policy: TrustPolicy, parse: Parser = parse_message
) -> Parsed:
    """Parse ``raw`` and classify it; any exception is returned, not raised."""
    try:
        mail = parse(raw, limits)
    except Exception as exc:  # parse_message never raises; a bug in it must not stop us
        return Parsed(None, error=_portable(exc))
    if not isinstance(mail, Mail):
        return Parsed(mail)
    try:
        return Parsed(mail, classify(mail, rules, policy))
    except Exception as exc:  # a classifier bug is a failed attempt, like any other
        return Parsed(mail, error=_portable(exc))


def parse_here(
    raws: Mapping[int, bytes],
    limits: Limits,
    rules: RuleSet,
    policy: TrustPolicy,
    parse: Parser = parse_message,
) -> Pending:
    """Parse and classify ``raws`` now, in this process, as a batch already done."""
    return Pending(
        [],
        {uid: parse_and_classify(r, limits, rules, policy, parse) for uid, r in raws.items()},
        raws,
    )


def _portable(exc: Exception) -> Exception:
    """The exception as a plain ``RuntimeError``, which always crosses a process boundary."""
    return RuntimeError(f"{type(exc).__name__}: {exc}")


# The rules of a worker process, set once by its initializer.
_worker: tuple[Limits, RuleSet, TrustPolicy, Parser] | None = None


def _start_worker(
    limits: Limits, rules: RuleSet, policy: TrustPolicy, parse: Parser, parent: int
) -> None:
    """Set this worker's rules; watch ``parent``, the daemon that started it (asked of
    the daemon, not of ``getppid()``: the daemon may have died while this one started)."""
    global _worker  # noqa: PLW0603 - one per worker process, set once at its start
    _worker = (limits, rules, policy, parse)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Keep a spawned worker from running the daemon's own script again.

    ``multiprocessing``'s spawn imports the parent's ``__main__`` script in
    each child (for ``mailbot``'s entry script: the whole CLI, 0.5 s and
    55 MB more per worker), though a worker needs only this module. The
    child skips that when the script has no ``__file__`` (run with ``-m``,
    its name ends in ``__main__`` and is skipped anyway).
    """
    main = sys.modules["__main__"]
    path = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that does not import the daemon's script (see above)."""

    @staticmethod
    def _Popen(process_obj: multiprocessing.process.BaseProcess) -> Popen:  # noqa: N802 - overrides
        with _main_script_hidden():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


def _exit_with_parent(parent: int) -> None:
    """End this worker once the daemon is gone (killed, say): nothing else would.

    A worker holds both ends of its task pipe, so it never sees the daemon's
    end close; it notices being handed to another parent instead.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _in_worker(raws: list[bytes]) -> list[Parsed]:
    if _worker is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("worker started without its rules")
    return [parse_and_classify(raw, *_worker) for raw in raws]


@dataclass
class Pending:
    """A batch handed to the pool (or, when small, parsed at once in this process)."""

    chunks: list[tuple[list[int], Future[list[Parsed]] | None]]  # None: the pool broke first
    done: dict[int, Parsed]
    raws: Mapping[int, bytes]
    pool: ParsePool | None = None

    def results(self) -> dict[int, Parsed]:
        """Wait for every message; a worker's death is pinned on the message that caused it.

        The messages of a chunk whose worker died are parsed again one by one,
        so only the one that kills its worker again gets the error.
        """
        out = dict(self.done)
        again: list[int] = []
        for uids, future in self.chunks:
            try:
                if future is None:
                    raise BrokenProcessPool("the pool broke before this chunk was sent")
                out.update(zip(uids, future.result(), strict=True))
            except BrokenProcessPool:
                again.extend(uids)
        if again and self.pool is not None:
            self.pool.restart()
        for uid in again:
            out[uid] = self.pool.alone(self.raws[uid]) if self.pool else _DIED
        return out


_DIED = Parsed(None, error=RuntimeError("the parser process died on this message"))


def _submit(executor: ProcessPoolExecutor, raws: list[bytes]) -> Future[list[Parsed]] | None:
    try:
        return executor.submit(_in_worker, raws)
    except BrokenProcessPool:  # a worker died while the batch was being handed out
        return None


class ParsePool:
    """Worker processes for :func:`parse_and_classify`; started lazily, restarted after a death.

    Where no process can be started (no ``/dev/shm`` for the pool's locks, a
    process limit), the pool says so once in the log and parses in the
    daemon's process from then on: slower, but nothing waits.
    """

    def __init__(
        self,
        limits: Limits,
        rules: RuleSet,
        policy: TrustPolicy,
        workers: int,
        *,
        parse: Parser = parse_message,
    ) -> None:
        """Workers for these rules.

        ``parse`` must be importable by its module's name: a worker does
        not run the daemon's own script.
        """
        self._args = (limits, rules, policy, parse)
        self._workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    def warm(self, messages: int) -> None:
        """Start the workers in a background thread when ``messages`` are about to come.

        Starting a worker blocks its parent until the child has imported
        the parser and read the rules (0.1–0.2 s here); meanwhile the daemon
        reads and files the first batches itself. Nothing is started for
        fewer messages than a pooled batch, or when the workers are running.
        """
        if messages < MIN_POOLED_BATCH or self._workers < 1:
            return
        if self._executor is not None or self._is_warming():
            return
        self._warming = threading.Thread(target=self._start, name="mailbot-pool-start", daemon=True)
        self._warming.start()

    def _start(self) -> None:
        try:
            self._ready().submit(os.getpid).result()
        except BrokenProcessPool:
            self.restart()
        except OSError as exc:
            self._give_up(exc)

    def _is_warming(self) -> bool:
        return self._warming is not None and self._warming.is_alive()

    def submit(self, raws: Mapping[int, bytes]) -> Pending:
        """Start parsing ``raws``; a small batch, or a pool of no workers, is parsed now.

        So is any batch while the workers are starting (see :meth:`warm`).
        The batch goes out in a few chunks per worker: one task per message
        would cost more in inter-process traffic than the parse itself.
        """
        if self._workers < 1 or len(raws) < MIN_POOLED_BATCH or self._is_warming():
            return parse_here(raws, *self._args)
        uids = list(raws)
        size = max(1, -(-len(uids) // (self._workers * CHUNKS_PER_WORKER)))
        chunks = [uids[i : i + size] for i in range(0, len(uids), size)]
        try:
            executor = self._ready()
            sent = [(c, _submit(executor, [raws[u] for u in c])) for c in chunks]
        except OSError as exc:
            self._give_up(exc)
            return parse_here(raws, *self._args)
        return Pending(sent, {}, raws, self)

    def alone(self, raw: bytes) -> Parsed:
        """Parse one message in a worker of its own making; its death is its error."""
        if self._workers < 1:
            return parse_and_classify(raw, *self._args)
        try:
            return self._ready().submit(_in_worker, [raw]).result()[0]
        except BrokenProcessPool:
            self.restart()
            return _DIED
        except OSError as exc:
            self._give_up(exc)
            return parse_and_classify(raw, *self._args)

    def _give_up(self, exc: OSError) -> None:
        """No worker can be started here: parse in the daemon's process from now on."""
        log.error(
            "cannot start parse workers (%s); parsing in the daemon's process instead",
            exc.strerror or exc,
        )
        with self._lock:
            self._workers = 0
        executor = self._detach()
        if executor is not None:  # batches already handed out are still parsed
            executor.shutdown(wait=False)

    def restart(self) -> None:
        """Drop a pool whose worker died; the next task starts a new one.

        The surviving workers are killed: Python 3.11's executor, once broken,
        waits for them to exit, and they wait for work that will not come, so
        the daemon could never exit.
        """
        log.warning("a parser process died; starting the pool again")
        executor = self._detach()
        if executor is None:
            return
        _kill_running(_processes(executor))
        executor.shutdown(wait=False, cancel_futures=True)

    def _detach(self) -> ProcessPoolExecutor | None:
        """Take the executor away, so that the next task starts a new one."""
        with self._lock:
            executor, self._executor = self._executor, None
        return executor

    def _ready(self) -> ProcessPoolExecutor:
        with self._lock:
            executor = self._executor
            if executor is None:
                executor = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=_WorkerContext(),
                    initializer=_start_worker,
                    initargs=(*self._args, os.getpid()),
                )
                self._executor = executor
            return executor

    def close(self) -> None:
        """Stop the worker processes; one still busy after a few seconds is killed.

        Workers hold no state worth waiting for, and a worker stuck in a
        parse must not keep the daemon from stopping on SIGTERM.
        """
        if self._warming is not None:
            self._warming.join(CLOSE_SECONDS)
        executor = self._detach()
        if executor is None:
            return
        processes = _processes(executor)
        # The executor's own thread tells the workers to stop and reaps them.
        manager = getattr(executor, "_executor_manager_thread", None)
        executor.shutdown(wait=False, cancel_futures=True)
        if manager is None:
            return
        manager.join(CLOSE_SECONDS)
        if manager.is_alive():
            for pid in _kill_running(processes):
                log.warning("parse worker %s did not stop; killed it", pid)
            manager.join(CLOSE_SECONDS)


def _processes(executor: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The executor's worker processes (read before ``shutdown``, which forgets them)."""
    return list((getattr(executor, "_processes", None) or {}).values())


def _kill_running(processes: list[multiprocessing.process.BaseProcess]) -> list[int | None]:
    """Kill the workers that have not exited; returns their pids.

    A worker's sentinel is ready once it has exited: one still running cannot
    have been reaped by the executor's thread, so its pid is still its own.
    """
    running = [p for p in processes if not wait_for_exit([p.sentinel], 0)]
    for process in running:
        process.kill()
    return [p.pid for p in running]
