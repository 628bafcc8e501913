"""One pass over the watched folder: every new message filed, exactly once.

The ledger (``Store``) is the source of truth, never the ``\\Seen`` flag.
Each message goes ``fetched`` → ``filed`` → ``moved`` (or ``quarantined``, or
``duplicate``), and each step is safe to repeat after a crash:

* the raw bytes are stored (content-addressed) before any decision; when
  parse workers parse the batches, by a thread of their own as soon as a
  batch is read (creating files costs the kernel more than anything else
  done per message, and it needs no lock of the interpreter's), the daemon
  syncing them with the batch (``Blobs.adopt``);
* the decision, its attachments and its outgoing mail are written in one
  transaction (``Store.file_message``), the batch's one transaction,
  committed after the batch's files are synced to disk; when one message of
  a batch fails, the batch is undone and filed again with a savepoint per
  message, so that the failure undoes that message's writes only (a
  savepoint for every message, every time, cost a fifth of the filing);
* the log says what was filed once it is committed;
* parsing and classifying (``app.workers``) run one batch ahead, in worker
  processes when the app has them;
* the IMAP move comes last, one command per folder for up to ``MOVE_EVERY``
  messages (each MOVE is a round trip and an index update on the server);
  a restart finds the
  ``filed`` rows and moves them, checking the target folder first so that
  nothing is filed twice;
* the highest UID seen advances only past messages that reached an end
  state, in the transaction that filed them, so a message whose processing
  failed is met again next pass, until it fails ``max_attempts`` times and is
  quarantined.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mailbot.app.facts import gather_facts
from mailbot.app.workers import Parsed, ParsePool, Pending, parse_here
from mailbot.core.classify import classify
from mailbot.core.compose import Renderer, compose
from mailbot.core.decide import Plan, ReplyContext, decide, quarantine_plan
from mailbot.core.model import Classification, Mail, Unparseable
from mailbot.core.parse import Limits, parse_message
from mailbot.core.rules import RuleSet
from mailbot.core.trust import TrustPolicy
from mailbot.shell.blobs import Blobs
from mailbot.shell.clock import Clock
from mailbot.shell.records import MessageRecord, OutboxItem, StoredAttachment
from mailbot.shell.source import MailSource
from mailbot.shell.store import Store

__all__ = ["Ingest", "PassReport"]

log = logging.getLogger("mailbot.ingest")
MOVE_EVERY = 1000
# A batch holds at most this much mail (a larger message is fetched alone);
# with the batch read ahead, a backlog of photos and videos stays within
# two of these in memory however many messages a batch may count.
MAX_BATCH_BYTES = 16 * 1024 * 1024
Progress = Callable[[int], None]


@dataclass
class PassReport:
    """What one pass did, for the CLI and the tests."""

    seen: int = 0
    filed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    failed: int = 0
    moved: int = 0
    folders: dict[str, int] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class _Moves:
    """Messages waiting to be moved, batched per target folder."""

    by_folder: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, folder: str, uid: int, record_id: int) -> None:
        self.by_folder[folder].append((uid, record_id))

    def __len__(self) -> int:
        return sum(len(items) for items in self.by_folder.values())


@dataclass(frozen=True)
class _Mark:
    """What a batch's :class:`_Step` held before the batch: see :meth:`_Step.undo`."""

    report: PassReport
    moves: dict[str, int]


@dataclass
class _Step:
    """The state one batch shares: its UIDVALIDITY, pending moves and the report.

    ``originals``: by content hash, the record first filed or quarantined
    with that content, as far as this batch knows (the store's answer for
    the batch, plus what the batch has filed since; made anew for each
    batch, as earlier batches are in the store's answer). ``lines``: the log
    lines of the batch, said once it is committed. ``careful``: a savepoint
    for each message (the batch's second try).
    """

    uidvalidity: int
    moves: _Moves
    report: PassReport
    originals: dict[str, int] = field(default_factory=dict)
    lines: list[tuple[int, str, tuple[Any, ...]]] = field(default_factory=list)
    careful: bool = False

    def mark(self) -> _Mark:
        """Remember the state before a batch (which only adds to it)."""
        report = replace(self.report, folders=dict(self.report.folders))
        moves = {folder: len(items) for folder, items in self.moves.by_folder.items()}
        return _Mark(report, moves)

    def undo(self, mark: _Mark) -> None:
        """Forget what the batch added since ``mark``: its transaction was rolled back."""
        self.report = replace(mark.report, folders=dict(mark.report.folders))
        for folder in list(self.moves.by_folder):
            kept = mark.moves.get(folder, 0)
            if kept:
                del self.moves.by_folder[folder][kept:]
            else:
                del self.moves.by_folder[folder]
        self.lines.clear()

    def say(self, level: int, message: str, *args: Any) -> None:
        """Log ``message`` once the batch is committed."""
        self.lines.append((level, message, args))

    def said(self) -> None:
        for level, message, args in self.lines:
            log.log(level, message, *args)
        self.lines.clear()


class _UndoneError(Exception):
    """A message failed in a batch filed without savepoints: file it again, carefully."""


@dataclass
class _Fetched:
    """One batch read from the source, its parsing and the writing of its raw files started.

    ``written``: by UID, where the writer thread stored each raw message,
    not yet synced (a message it could not store is missing).
    """

    uids: Sequence[int]
    sizes: dict[int, int]
    raws: dict[int, bytes]
    parsed: Pending
    written: Future[dict[int, str]] | None = None

    def raw_path(self, uid: int) -> str | None:
        return self.written.result().get(uid) if self.written is not None else None


@dataclass
class Ingest:
    """Files the messages of one mailbox folder; built once by ``app.wiring``."""

    source: MailSource
    store: Store
    blobs: Blobs
    rules: RuleSet
    policy: TrustPolicy
    clock: Clock
    mailbox: str
    limits: Limits = field(default_factory=Limits)
    batch_size: int = 100
    max_attempts: int = 3
    stop_requested: Callable[[], bool] = lambda: False
    parse: Callable[[bytes, Limits], Mail | Unparseable] = parse_message
    replies: ReplyContext | None = None
    renderer: Renderer | None = None
    pool: ParsePool | None = None

    def run_pass(self, progress: Callable[[int], Progress] | None = None) -> PassReport:
        """Sync the folder once, holding the mailbox's lock (another daemon may watch it too)."""
        with self.store.mailbox_lock(self.mailbox) as held:
            if not held:
                log.info("%s is being filed by another process; skipping this pass", self.mailbox)
                return PassReport(skipped=True)
            return self._run_pass(progress)

    def _run_pass(self, progress: Callable[[int], Progress] | None) -> PassReport:
        """Finish interrupted moves, then file every new UID."""
        uidvalidity = self.source.select()
        step = _Step(uidvalidity, _Moves(), PassReport())
        last_uid = self._start_uid(uidvalidity)
        if last_uid == 0:  # the row exists from here on; a batch's commit only updates it
            self.store.save_sync_state(self.mailbox, uidvalidity, 0, self.clock.now())
        self._finish_pending(uidvalidity, step.report)
        uids = self.source.uids_after(last_uid)
        if (pool := self._pool()) is not None:
            pool.warm(len(uids))
        tick = progress(len(uids)) if progress and uids else None
        batches = self._batches(uids)
        with self._raw_writer() as store:
            ahead = self._fetch(next(batches, None), store)
            while ahead is not None and not self.stop_requested():
                current = ahead
                # The next batch is read and handed to the parsers while this one is filed;
                # the moves wait on the server, so they go while the parsers hold two batches,
                # or the last one (then only its own moves are left for the end).
                ahead = self._fetch(next(batches, None), store)
                if len(step.moves) >= MOVE_EVERY or (ahead is None and step.moves):
                    self._move(step.moves, step.report)
                self._batch(step, current)
                if tick:
                    tick(len(current.uids))
        self._move(step.moves, step.report)
        if not uids:
            self.store.save_sync_state(self.mailbox, uidvalidity, last_uid, self.clock.now())
        return step.report

    def _start_uid(self, uidvalidity: int) -> int:
        state = self.store.sync_state(self.mailbox)
        if state is None:
            return 0
        if state.uidvalidity != uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed from %d to %d: re-scanning, known messages are "
                "recognised by content hash",
                self.mailbox,
                state.uidvalidity,
                uidvalidity,
            )
            return 0
        return state.last_uid

    def _finish_pending(self, uidvalidity: int, report: PassReport) -> None:
        moves = _Moves()
        for record in self.store.pending_moves(self.mailbox):
            if record.uidvalidity != uidvalidity or record.folder is None:
                continue
            if record.message_id and self.source.contains_message_id(
                record.folder, record.message_id
            ):
                self.store.mark_moved([record.id], self.clock.now())
                continue
            moves.add(record.folder, record.uid, record.id)
        self._move(moves, report)

    def _batches(self, uids: Sequence[int]) -> Iterator[tuple[list[int], dict[int, int]]]:
        """``uids`` in batches of at most ``batch_size`` messages and ``MAX_BATCH_BYTES``.

        Each batch comes with the sizes the server reported. A message over
        the size limit is not fetched, so it weighs nothing here.
        """
        for chunk in _chunks(uids, self.batch_size):
            sizes = self.source.sizes(chunk)
            batch: list[int] = []
            weight = 0
            for uid in chunk:
                size = sizes.get(uid, 0)
                size = size if size <= self.limits.max_message_bytes else 0
                if batch and weight + size > MAX_BATCH_BYTES:
                    yield batch, sizes
                    batch, weight = [], 0
                batch.append(uid)
                weight += size
            if batch:
                yield batch, sizes

    @contextmanager
    def _raw_writer(self) -> Iterator[_Writer | None]:
        """Where a pass's raw messages are stored: a thread of its own, beside the parse
        workers; None (the daemon writes them as it files) when the daemon parses itself.

        The thread's file system calls run without the interpreter's lock, but
        between them it must take the lock back: beside a thread parsing in
        this process, that wait would cost more than the writing saves.
        """
        if self._pool() is None:
            yield None
            return
        unsynced = Blobs(self.blobs.root, synced_elsewhere=True)  # the daemon adopts them
        with ThreadPoolExecutor(1, thread_name_prefix="mailbot-raw") as writer:
            yield lambda raws: writer.submit(_stored, unsynced, raws)

    def _fetch(
        self, planned: tuple[list[int], dict[int, int]] | None, writer: _Writer | None
    ) -> _Fetched | None:
        """Read one batch (messages over the size limit are not fetched), start storing and
        parsing it."""
        if planned is None:
            return None
        batch, sizes = planned
        small = [u for u in batch if sizes.get(u, 0) <= self.limits.max_message_bytes]
        raws = self.source.fetch_raw(small)
        written = writer(raws) if writer is not None and raws else None
        if (pool := self._pool()) is not None:
            parsed = pool.submit(raws)
        else:
            parsed = parse_here(raws, self.limits, self.rules, self.policy, self.parse)
        return _Fetched(batch, sizes, raws, parsed, written)

    def _pool(self) -> ParsePool | None:
        """The workers parsing goes to; None for none, or for a test's own parser."""
        return self.pool if self.parse is parse_message else None

    def _batch(self, step: _Step, fetched: _Fetched) -> None:
        """File one batch and record the UID to resume after; its moves are left in ``step``.

        A message that fails undoes the whole batch, which is then filed
        again with a savepoint for each message (see the module doc).
        """
        results = fetched.parsed.results()
        mark = step.mark()
        try:
            self._together(step, fetched, results)
        except _UndoneError as undone:
            log.info("filing the batch again, message by message: %s", undone.__cause__)
            step.undo(mark)
            step.careful = True
            try:
                self._together(step, fetched, results)
            finally:
                step.careful = False
        step.said()

    def _together(self, step: _Step, fetched: _Fetched, results: dict[int, Parsed]) -> None:
        """File a batch, and the UID to resume after, in one transaction; see :meth:`_batch`."""
        batch, report = fetched.uids, step.report
        unresolved: list[int] = []
        step.originals = {}
        # One commit for the batch, and one disk sync for its files just before it.
        with self.store.together(), self.blobs.synced_once():
            records = self._claim(step, fetched, results)
            for uid in batch:
                if self.stop_requested():
                    unresolved.append(uid)
                    break
                report.seen += 1
                record = records.get(uid)
                if record is None:
                    continue  # expunged by someone else between SEARCH and FETCH
                if not self._one(step, uid, record, results.get(uid, _NOTHING), fetched):
                    unresolved.append(uid)
            resume = max(min(unresolved) - 1 if unresolved else max(batch), 0)
            self.store.save_sync_state(self.mailbox, step.uidvalidity, resume, self.clock.now())

    def _one(
        self, step: _Step, uid: int, record: MessageRecord, parsed: Parsed, fetched: _Fetched
    ) -> bool:
        """Take one message as far as it goes; False when it must be tried again."""
        if self._already_handled(step, uid, record) or self._is_duplicate(step, record, uid):
            return True
        raw = fetched.raws.get(uid)
        if raw is None:
            size = fetched.sizes.get(uid, 0)
            reason = f"too large: {size} bytes > {self.limits.max_message_bytes}"
            return self._quarantine(step, record, uid, reason)
        if parsed.error is not None:
            return self._failed(step, record, uid, parsed.error)
        try:
            return self._file(step, record, uid, raw, parsed, written=fetched.raw_path(uid))
        except Exception as exc:  # the daemon must outlive any one message
            if not step.careful:
                raise _UndoneError(f"record {record.id} (uid {uid}): {type(exc).__name__}") from exc
            return self._failed(step, record, uid, exc)

    def _claim(
        self, step: _Step, fetched: _Fetched, results: dict[int, Parsed]
    ) -> dict[int, MessageRecord]:
        """Ledger rows for the batch, by UID, and the records holding the same content already.

        A UID that was neither fetched nor over the size limit was expunged
        meanwhile, and gets no row.
        """
        keys: list[tuple[int, str, str]] = []
        for uid in fetched.uids:
            raw, size = fetched.raws.get(uid), fetched.sizes.get(uid, 0)
            if raw is None and size <= self.limits.max_message_bytes:
                continue
            mail = results.get(uid, _NOTHING).mail
            sha = self._digest(raw, mail) if raw is not None else f"oversize-{uid}-{size}"
            message_id = mail.message_id if isinstance(mail, Mail) else f"<{sha}@mailbot.invalid>"
            keys.append((uid, sha, message_id))
        claims = self.store.claim_many(self.mailbox, step.uidvalidity, keys, self.clock.now())
        records = {uid: claim.record for uid, claim in claims.items()}
        found = self.store.processed(r.sha256 for r in records.values())
        step.originals.update({sha: record.id for sha, record in found.items()})
        return records

    def _digest(self, raw: bytes, mail: Mail | Unparseable | None) -> str:
        """The raw message's SHA-256: the one ``parse_message`` took, else computed here."""
        if self.parse is parse_message and isinstance(mail, Mail | Unparseable):
            return mail.sha256
        return hashlib.sha256(raw).hexdigest()

    def _already_handled(self, step: _Step, uid: int, record: MessageRecord) -> bool:
        """A restart meets a message it had decided on: finish its move only."""
        if record.state == "quarantined":
            step.moves.add(self.rules.routing.quarantine, uid, record.id)
        elif record.state == "filed" and record.folder:
            step.moves.add(record.folder, uid, record.id)
        return record.state in ("quarantined", "filed", "moved", "duplicate")

    def _is_duplicate(self, step: _Step, record: MessageRecord, uid: int) -> bool:
        original = step.originals.get(record.sha256)
        if original is None or original == record.id:
            return False
        self.store.mark_duplicate(record.id, original, self.clock.now())
        step.report.duplicates += 1
        step.say(
            logging.INFO, "duplicate uid=%d of record %d: left where it is, not filed again",
            uid, original,
        )  # fmt: skip
        return True

    def _file(
        self,
        step: _Step,
        record: MessageRecord,
        uid: int,
        raw: bytes,
        parsed: Parsed,
        *,
        written: str | None = None,
    ) -> bool:
        raw_path = self.blobs.adopt(written) if written else self.blobs.put_raw(raw)
        mail, cls = parsed.mail, parsed.classification
        if not isinstance(mail, Mail):
            reason = mail.reason if isinstance(mail, Unparseable) else "no message"
            return self._quarantine(step, record, uid, f"unparseable: {reason}")
        if cls is None:
            cls = classify(mail, self.rules, self.policy)
        now = self.clock.now()
        # The facts (with the next reference number) and the filing share one
        # transaction, so two processes sharing a database never take one number.
        with self._undoable(step):
            plan = self._decide(mail, cls, now)
            stored = self._attachments(record.id, mail)
            self.store.file_message(
                record.id,
                mail=mail,
                classification=cls,
                folder=plan.folder,
                raw_path=raw_path,
                attachments=stored,
                outbox=self._compose(plan, now),
                now=now,
                ref=plan.ref,
                status=plan.status,
                thread_of=plan.join,
                changes=plan.changes,
            )
        step.moves.add(plan.folder, uid, record.id)
        step.report.filed += 1
        step.originals.setdefault(record.sha256, record.id)
        step.report.folders[plan.folder] = step.report.folders.get(plan.folder, 0) + 1
        step.say(
            logging.INFO,
            "filed id=%d ref=%s kind=%s role=%s topic=%s urgent=%s folder=%r replies=%d%s",
            record.id,
            plan.ref or "-",
            cls.kind,
            cls.role,
            cls.topic or "-",
            cls.urgent,
            plan.folder,
            len(plan.replies),
            "".join(f"; {note}" for note in plan.notes),
        )
        return True

    def _undoable(self, step: _Step) -> AbstractContextManager[None]:
        """A savepoint on the batch's careful try (or outside a batch); nothing otherwise."""
        return self.store.savepoint() if step.careful else nullcontext()

    def _decide(self, mail: Mail, cls: Classification, now: datetime) -> Plan:
        if self.replies is None:
            return Plan(folder=self.rules.folder_for(cls.kind, cls.group))
        with self.store.together():
            facts = gather_facts(self.store, mail, cls, now, self.replies.policy)
        return decide(mail, cls, self.rules, facts, self.replies)

    def _compose(self, plan: Plan, now: datetime) -> list[OutboxItem]:
        if self.replies is None or self.renderer is None:
            return []
        identity = self.replies.identity
        composed = [compose(out, identity, self.renderer, now) for out in plan.replies]
        return [OutboxItem(c.message_id, c.purpose, c.recipients, c.raw) for c in composed]

    def _attachments(self, record_id: int, mail: Mail) -> list[StoredAttachment]:
        return [
            StoredAttachment(
                name=att.name,
                content_type=att.content_type,
                size=att.size,
                stored_path=self.blobs.put_attachment(record_id, att),
                skipped=att.skipped,
            )
            for att in mail.attachments
        ]

    def _failed(self, step: _Step, record: MessageRecord, uid: int, exc: Exception) -> bool:
        error = f"{type(exc).__name__}: {exc}"
        attempts = self.store.record_failure(record.id, "file", error, self.clock.now())
        step.say(
            logging.ERROR, "record %d (uid %d) failed, attempt %d: %s",
            record.id, uid, attempts, error,
        )  # fmt: skip
        if attempts >= self.max_attempts:
            return self._quarantine(step, record, uid, f"failed {attempts} times: {error}")
        step.report.failed += 1
        return False

    def _quarantine(self, step: _Step, record: MessageRecord, uid: int, reason: str) -> bool:
        plan = quarantine_plan(reason, self.rules)
        self.store.quarantine(record.id, reason, self.clock.now())
        step.moves.add(plan.folder, uid, record.id)
        step.report.quarantined += 1
        step.originals.setdefault(record.sha256, record.id)
        step.say(logging.WARNING, "quarantined id=%d uid=%d: %s", record.id, uid, reason)
        return True

    def _move(self, moves: _Moves, report: PassReport) -> None:
        """One MOVE per folder, then one commit marking them all (one disk sync, not one each).

        When a MOVE fails, the folders moved before it are still marked.
        """
        moved: list[int] = []
        try:
            for folder, items in moves.by_folder.items():
                self.source.ensure_folder(folder)
                self.source.move([uid for uid, _ in items], folder)
                moved.extend(record_id for _, record_id in items)
                report.moved += len(items)
        finally:
            if moved:
                self.store.mark_moved(moved, self.clock.now())
        moves.by_folder.clear()

    def retry(self, record_id: int) -> bool:
        """Put one quarantined message through the pipeline again, after a rules fix.

        ``source`` must be opened on the quarantine folder: the message is found
        there by its content hash, filed anew and moved to its folder.
        """
        record = self.store.record(record_id)
        if record is None or not self.store.requeue(record_id, self.clock.now()):
            return False
        self.source.select()
        uids = self.source.uids_after(0)
        for uid, raw in self.source.fetch_raw(uids).items():
            if hashlib.sha256(raw).hexdigest() == record.sha256:
                step = _Step(0, _Moves(), PassReport(), careful=True)
                self._file(step, record, uid, raw, Parsed(self.parse(raw, self.limits)))
                step.said()
                self._move(step.moves, step.report)
                return step.report.filed == 1
        return False


_NOTHING = Parsed(None)
# Starts storing a batch's raw messages in the writer thread of a pass.
_Writer = Callable[[Mapping[int, bytes]], "Future[dict[int, str]]"]


def _stored(blobs: Blobs, raws: Mapping[int, bytes]) -> dict[int, str]:
    """Store each raw message; one that fails is left out, for the daemon to write and report."""
    out: dict[int, str] = {}
    for uid, raw in raws.items():
        try:
            out[uid] = blobs.put_raw(raw)
        except Exception:  # the daemon writes it again and reports what went wrong
            continue
    return out


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]
