"""Parsing and classifying a batch in worker processes, beside the filing of the last one.

Parsing and classifying are pure CPU work (``core.parse``, ``core.classify``)
and most of a backlog's cost; the ledger, the files and the IMAP moves must
stay in the daemon's one process, in order. So while the daemon files batch
N, a pool of worker processes parses batch N+1 (the pool is started at the
first large batch and lives as long as the app). Each worker receives the
rules once, when it starts.

A worker that dies (a parser crash in C code, the kernel's OOM killer) takes
only the messages it held: they count as failed attempts, the pool is started
again, and the daemon goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

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


def _start_worker(limits: Limits, rules: RuleSet, policy: TrustPolicy, parse: Parser) -> None:
    global _worker  # noqa: PLW0603 - one per worker process, set once at its start
    _worker = (limits, rules, policy, parse)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


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
    """Worker processes for :func:`parse_and_classify`; started lazily, restarted after a death."""

    def __init__(
        self,
        limits: Limits,
        rules: RuleSet,
        policy: TrustPolicy,
        workers: int,
        parse: Parser = parse_message,
    ) -> None:
        self._args = (limits, rules, policy, parse)
        self._workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, raws: Mapping[int, bytes]) -> Pending:
        """Start parsing ``raws``; a small batch, or a pool of no workers, is parsed now.

        The batch goes out in a few chunks per worker: one task per message
        would cost more in inter-process traffic than the parse itself.
        """
        if self._workers < 1 or len(raws) < MIN_POOLED_BATCH:
            return parse_here(raws, *self._args)
        executor = self._ready()
        uids = list(raws)
        size = max(1, -(-len(uids) // (self._workers * CHUNKS_PER_WORKER)))
        chunks = [uids[i : i + size] for i in range(0, len(uids), size)]
        return Pending(
            [(c, _submit(executor, [raws[u] for u in c])) for c in chunks], {}, raws, self
        )

    def alone(self, raw: bytes) -> Parsed:
        """Parse one message in a worker of its own making; its death is its error."""
        try:
            return self._ready().submit(_in_worker, [raw]).result()[0]
        except BrokenProcessPool:
            self.restart()
            return _DIED

    def restart(self) -> None:
        """Drop a pool whose worker died; the next task starts a new one.

        The surviving workers are killed: Python 3.11's executor, once broken,
        waits for them to exit, and they wait for work that will not come, so
        the daemon could never exit.
        """
        log.warning("a parser process died; starting the pool again")
        executor, self._executor = self._executor, None
        if executor is None:
            return
        survivors = getattr(executor, "_processes", None) or {}
        for process in list(survivors.values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def _ready(self) -> ProcessPoolExecutor:
        executor = self._executor
        if executor is None:
            executor = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=self._args,
            )
            self._executor = executor
        return executor

    def close(self) -> None:
        """Stop the worker processes (they hold no state worth waiting for)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
