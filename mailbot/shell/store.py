"""The database: the only code that talks SQL, on SQLite or PostgreSQL.

Every public method is one transaction and returns frozen records from
``records.py``, never ORM rows. Every effect has a natural key (ARCHITECTURE,
"Every effect has a natural key"), enforced by a unique constraint rather than
by a check-then-insert, so two daemons racing each other (RELIABILITY case 15)
end with one row: the loser's ``IntegrityError`` is caught and the winner's
row returned.

Database failures leave as ``StoreError``, whose message names the database
with its password hidden.

SQLite runs in WAL mode with foreign keys on, and every transaction starts
with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes
gets ``SQLITE_BUSY`` at once when another writer got there first, without
waiting for ``busy_timeout``; an immediate one takes the write lock up front
and waits its turn.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, CursorResult, Row, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from mailbot.core.decide import StatusChange
from mailbot.core.model import Classification, Mail
from mailbot.errors import StoreError
from mailbot.shell.db import AttachmentRow, JobRunRow, MessageRow, OutboxRow, SyncStateRow
from mailbot.shell.records import (
    Claim,
    JobRun,
    MessageRecord,
    MessageState,
    OutboxItem,
    OutboxRecord,
    OutboxState,
    RunState,
    StoreCounts,
    StoredAttachment,
    SyncState,
)

__all__ = ["Store", "alembic_config"]

P = ParamSpec("P")
R = TypeVar("R")

SQLITE_BUSY_TIMEOUT_MS = 10_000
OPEN_RETRY_PAUSES = (0.1, 0.5, 1.0, 2.0)
# RFC 5322 caps a line at 998 characters; a longer Message-ID is hostile, and
# PostgreSQL cannot index a btree entry much longer than 2,700 bytes.
MAX_MESSAGE_ID = 998
# Any number works; it only has to be the same in every mailbot process.
PG_MIGRATION_LOCK = 0x6D61696C
PG_REF_LOCK = 0x6D616972
PROCESSED: tuple[MessageState, ...] = ("filed", "moved", "quarantined")


_MESSAGES = cast(Table, MessageRow.__table__)


def _oldest(*where: ColumnElement[bool]) -> Select[Any]:
    """The oldest message row matching ``where``, as a plain row (no ORM object)."""
    return select(_MESSAGES).where(*where).order_by(_MESSAGES.c.id).limit(1)


# The statements asked for every message, built once: building a statement
# costs several times what SQLite takes to run it.
_BY_KEYS = (
    select(_MESSAGES)
    .where(
        MessageRow.mailbox == bindparam("mailbox"),
        MessageRow.uidvalidity == bindparam("uidvalidity"),
        MessageRow.uid.in_(bindparam("uids", expanding=True)),
    )
    .order_by(_MESSAGES.c.id)
)
_PROCESSED_BY_HASHES = (
    select(_MESSAGES)
    .where(
        MessageRow.sha256.in_(bindparam("hashes", expanding=True)),
        MessageRow.state.in_(PROCESSED),
    )
    .order_by(_MESSAGES.c.id)
)
_BY_REF = _oldest(MessageRow.ref == bindparam("ref"))
_BY_ID = _oldest(MessageRow.id == bindparam("id"))
_REF_BY_MESSAGE_ID = _oldest(MessageRow.message_id == bindparam("mid"), MessageRow.ref.is_not(None))
_CAUSE_OF_OUR_REPLY = (
    select(OutboxRow.cause_id).where(OutboxRow.message_id == bindparam("mid")).limit(1)
)
_QUEUED_IDS = select(OutboxRow.message_id).where(
    OutboxRow.message_id.in_(bindparam("ids", expanding=True))
)
# The highest reference number with a stem: zero-padded to three digits, and
# may grow longer, so the longest, then the greatest. SQLite narrows the refs
# to the stem's through the unique index with GLOB (its LIKE ignores case, so
# cannot); PostgreSQL's LIKE does so where the collation allows.
_LAST_REF_ORDER = (func.length(MessageRow.ref).desc(), MessageRow.ref.desc())
_LAST_REF = {
    "sqlite": select(MessageRow.ref)
    .where(MessageRow.ref.op("GLOB")(bindparam("pattern")))
    .order_by(*_LAST_REF_ORDER)
    .limit(1),
    "other": select(MessageRow.ref)
    .where(MessageRow.ref.like(bindparam("pattern")))
    .order_by(*_LAST_REF_ORDER)
    .limit(1),
}
# Counted only up to the cap that the caller compares them with: a backlog
# queues thousands of receipts in a day, and counting them all for every
# message made filing it slower as it went. Both counts in one statement.
_ACKS_TO_SENDER = select(func.count()).select_from(
    select(OutboxRow.id)
    .join(MessageRow, OutboxRow.cause_id == MessageRow.id)
    .where(
        OutboxRow.purpose == "ack",
        MessageRow.sender_addr == bindparam("address"),
        func.coalesce(MessageRow.date, MessageRow.created_at).between(
            bindparam("start"), bindparam("end")
        ),
    )
    .limit(bindparam("sender_cap"))
    .subquery()
)
_ACKS_SINCE = select(func.count()).select_from(
    select(OutboxRow.id)
    .where(OutboxRow.purpose == "ack", OutboxRow.created_at >= bindparam("since"))
    .limit(bindparam("day_cap"))
    .subquery()
)
_REPLY_COUNTS = select(_ACKS_TO_SENDER.scalar_subquery(), _ACKS_SINCE.scalar_subquery())
_DELETE_ATTACHMENTS = delete(AttachmentRow).where(AttachmentRow.record_id == bindparam("record_id"))
# Core statements on the tables (no ORM unit of work); [False] SQLite, [True] PostgreSQL.
_CLAIM = {
    pg: (postgresql if pg else sqlite)
    .insert(_MESSAGES)
    .on_conflict_do_nothing()
    .returning(_MESSAGES.c.id, _MESSAGES.c.uid)
    for pg in (False, True)
}
_FILE = _MESSAGES.update().where(_MESSAGES.c.id == bindparam("record_id"))
# Filing a message for the first time: it has no attachment rows to replace.
_FILE_FETCHED = _FILE.where(_MESSAGES.c.state == "fetched")
_ADD_ATTACHMENT = cast(Table, AttachmentRow.__table__).insert()
_QUEUE = cast(Table, OutboxRow.__table__).insert()


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in the package (no ini file)."""
    config = Config()
    config.set_main_option("script_location", "mailbot:migrations")
    return config


def _guarded(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Turn any SQLAlchemy error escaping ``method`` into a ``StoreError``."""

    def wrapper(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise self._error(method.__name__, exc) from exc

    functools.update_wrapper(wrapper, method)
    return wrapper


class Store:
    """Transactions over the ledger, sync state, outbox and job runs. See the module doc."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()  # the _Shared of together(), per thread
        self._safe_url = engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url`` (SQLite file or PostgreSQL) and check that it answers.

        A SQLite file that another process is creating, or switching to WAL,
        can answer "database is locked" at once, without waiting out the busy
        timeout; the first connection is tried again a few times for that.
        """
        store = cls(_create_engine(_parse_url(url)))
        for pause in (*OPEN_RETRY_PAUSES, None):
            try:
                store.ping()
                return store
            except StoreError as exc:
                if pause is None or not _is_locked(exc.__cause__):
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def url(self) -> str:
        """The database URL with its password hidden, for logs and messages."""
        return self._safe_url

    def _error(self, action: str, exc: SQLAlchemyError) -> StoreError:
        """A ``StoreError`` for ``exc`` during ``action``, naming the database but no password."""
        detail = _first_line((exc.orig or exc) if isinstance(exc, DBAPIError) else exc)
        password = self._engine.url.password
        if password:
            detail = detail.replace(str(password), "***")
        hint = " (is the server running, and is the URL right?)" if action == "ping" else ""
        return StoreError(f"database {self._safe_url}: {action} failed: {detail}{hint}")

    @_guarded
    def ping(self) -> None:
        """Open one connection, so a wrong URL or a stopped server shows at start-up."""
        with self._engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # -- schema -----------------------------------------------------------

    @_guarded
    def upgrade(self) -> None:
        """Apply every pending migration, in one transaction; safe to repeat and to race."""
        config = alembic_config()
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @_guarded
    def current_revision(self) -> str | None:
        """The applied migration's revision id, or None for an empty database."""
        with self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @contextmanager
    def mailbox_lock(self, mailbox: str) -> Iterator[bool]:
        """Hold the mailbox for one pass; yields False when another process holds it.

        Several daemons may watch one mailbox (RELIABILITY case 15); only the
        one holding this lock files messages, so no message is processed
        twice. The lock dies with its holder: a PostgreSQL advisory lock ends
        with the session, a ``flock`` on SQLite's lock file with the process,
        so a killed daemon leaves nothing behind for the others.
        """
        if self._engine.dialect.name == "postgresql":
            with self._advisory(mailbox) as held:
                yield held
        else:
            with self._file_lock(mailbox) as held:
                yield held

    @contextmanager
    def _advisory(self, mailbox: str) -> Iterator[bool]:
        key = int.from_bytes(hashlib.sha256(mailbox.encode()).digest()[:8], "big", signed=True)
        with self._engine.connect() as conn:
            held = bool(conn.scalar(select(func.pg_try_advisory_lock(key))))
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.scalar(select(func.pg_advisory_unlock(key)))
                    conn.commit()

    @contextmanager
    def _file_lock(self, mailbox: str) -> Iterator[bool]:
        database = Path(self._engine.url.database or "mailbot.sqlite3")
        digest = hashlib.sha256(mailbox.encode()).hexdigest()[:16]
        path = database.with_name(f"{database.name}.{digest}.lock")
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def connection(self) -> Connection:
        """A raw connection, for schema tests and ``mailbot doctor`` only."""
        return self._engine.connect()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One session in one transaction: committed on success, rolled back on error.

        Inside :meth:`together`, every call shares that one transaction.
        """
        shared = self._shared()
        if shared is not None:
            yield shared.session
            return
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    def _shared(self) -> _Shared | None:
        """The transaction :meth:`together` opened in this thread, if any."""
        return cast("_Shared | None", getattr(self._local, "shared", None))

    @contextmanager
    def together(self) -> Iterator[None]:
        """Run several store calls in one transaction (one commit, one lock).

        For the questions asked before each decision: on SQLite every
        transaction takes the write lock and every commit syncs the disk.
        """
        if self._shared() is not None:
            yield
            return
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            self._local.shared = _Shared(session)
            try:
                yield
            finally:
                self._local.shared = None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside :meth:`together`: a nested transaction, undone alone when its block raises.

        So one message's failure inside a batch's transaction rolls back that
        message's writes only (PostgreSQL would otherwise abort the whole
        transaction). Outside :meth:`together` it is a transaction of its own.
        """
        shared = self._shared()
        if shared is None:
            with self.together():
                yield
            return
        try:
            with shared.session.begin_nested():
                yield
        except BaseException:
            shared.last_refs.clear()  # numbers written in the undone block are free again
            raise

    # -- sync state -------------------------------------------------------

    @_guarded
    def sync_state(self, mailbox: str) -> SyncState | None:
        """How far ``mailbox`` has been read, or None before the first sync."""
        with self._tx() as s:
            row = s.get(SyncStateRow, mailbox)
            return _sync(row) if row else None

    @_guarded
    def save_sync_state(self, mailbox: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
        """Record the last UID seen; within one UIDVALIDITY it never goes back."""
        try:
            self._update_sync(mailbox, uidvalidity, last_uid, now)
        except IntegrityError:  # another process inserted it first
            self._update_sync(mailbox, uidvalidity, last_uid, now)

    def _update_sync(self, mailbox: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
        with self._tx() as s:
            row = s.get(SyncStateRow, mailbox, with_for_update=True)
            if row is None:
                row = SyncStateRow(mailbox=mailbox, first_sync_at=now)
                s.add(row)
            elif row.uidvalidity == uidvalidity:
                last_uid = max(last_uid, row.last_uid)
            row.uidvalidity, row.last_uid, row.last_sync_at = uidvalidity, last_uid, now

    # -- the ledger -------------------------------------------------------

    def claim(
        self,
        mailbox: str,
        uidvalidity: int,
        uid: int,
        *,
        sha256: str,
        message_id: str,
        now: datetime,
    ) -> Claim:
        """The ledger row for this key: a new one in state ``fetched``, or the existing one.

        Idempotent, and safe when two processes claim the same key at once: the
        unique constraint lets one insert win and the other reads its row.
        """
        return self.claim_many(mailbox, uidvalidity, [(uid, sha256, message_id)], now)[uid]

    @_guarded
    def claim_many(
        self,
        mailbox: str,
        uidvalidity: int,
        messages: Sequence[tuple[int, str, str]],
        now: datetime,
    ) -> dict[int, Claim]:
        """:meth:`claim` for a batch of ``(uid, sha256, message_id)``, by UID.

        One INSERT … ON CONFLICT DO NOTHING for them all; the rows already
        there (a restart, or another process first) are read in one SELECT.
        """
        values: list[dict[str, Any]] = [
            {
                "mailbox": mailbox,
                "uidvalidity": uidvalidity,
                "uid": uid,
                "sha256": sha256,
                "message_id": message_id[:MAX_MESSAGE_ID],
                "state": "fetched",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for uid, sha256, message_id in messages
        ]
        if not values:
            return {}
        with self._tx() as s:
            c = _core(s)
            insert = _CLAIM[self._engine.dialect.name == "postgresql"]
            new_ids = {row.uid: row.id for row in c.execute(insert, values)}
            claims = {
                v["uid"]: Claim(_fresh(new_ids[v["uid"]], v), created=True)
                for v in values
                if v["uid"] in new_ids
            }
            there = [v["uid"] for v in values if v["uid"] not in new_ids]
            if there:
                key = {"mailbox": mailbox, "uidvalidity": uidvalidity, "uids": there}
                for row in c.execute(_BY_KEYS, key):
                    claims[row.uid] = Claim(_message(row), created=False)
        if len(claims) != len(values):
            lost = sorted({v["uid"] for v in values} - set(claims))
            raise StoreError(f"database {self._safe_url}: claim of uids {lost} found no row")
        return claims

    @_guarded
    def record(self, record_id: int) -> MessageRecord | None:
        """The ledger row ``record_id``, or None."""
        with self._tx() as s:
            row = s.get(MessageRow, record_id)
            return _message(row) if row else None

    def find_processed(self, sha256: str) -> MessageRecord | None:
        """The first message with this content already filed, moved or quarantined.

        This recognises a message dragged back into INBOX (case 10) or seen again
        under a new UIDVALIDITY (case 9), so it is neither re-filed nor re-acked.
        """
        return self.processed([sha256]).get(sha256)

    @_guarded
    def processed(self, hashes: Iterable[str]) -> dict[str, MessageRecord]:
        """:meth:`find_processed` for many hashes at once; hashes never processed are absent."""
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        found: dict[str, MessageRecord] = {}
        with self._tx() as s:
            for row in _core(s).execute(_PROCESSED_BY_HASHES, {"hashes": wanted}):
                found.setdefault(row.sha256, _message(row))
        return found

    @_guarded
    def find_by_message_id(self, message_id: str) -> list[MessageRecord]:
        """Every ledger row carrying this Message-ID, oldest first.

        A list, not one row: a Message-ID is chosen by the sender, and an
        attacker may reuse a legitimate one (case 11b), so callers compare the
        hash too before calling anything a duplicate.
        """
        return self._messages(MessageRow.message_id == message_id)

    @_guarded
    def file_message(
        self,
        record_id: int,
        *,
        mail: Mail,
        classification: Classification,
        folder: str,
        raw_path: str,
        attachments: Sequence[StoredAttachment],
        outbox: Sequence[OutboxItem],
        now: datetime,
        ref: str | None = None,
        status: str | None = None,
        thread_of: int | None = None,
        changes: Sequence[StatusChange] = (),
    ) -> None:
        """Record the decision for one message, in ONE transaction (ARCHITECTURE step 9).

        Fills the ledger row and sets it ``filed``, replaces its attachment rows
        and queues its outgoing mail. An outbox row whose Message-ID is already
        queued is skipped, so filing again after a crash sends nothing twice.
        ``changes`` (the leadership's commands) update earlier records in the
        same transaction.

        Plain SQL statements, not ORM objects: this runs for every message.
        """
        sender = mail.sender
        values = {
            "record_id": record_id,
            "sender_addr": sender.addr if sender else None,
            "sender_name": sender.name if sender else None,
            "subject": mail.subject,
            "date": mail.date,
            "in_reply_to": mail.in_reply_to,
            "references": " ".join(mail.references),
            "role": classification.role,
            "group": classification.group,
            "kind": classification.kind,
            "topics": list(classification.topics),
            "urgent": classification.urgent,
            "reasons": list(classification.reasons),
            "folder": folder,
            "raw_path": raw_path,
            "ref": ref,
            "status": status,
            "thread_of": thread_of,
            "state": "filed",
            "last_error": None,
            "updated_at": now,
        }
        with self._tx() as s:
            _apply_changes(s, changes, now)
            c = _core(s)
            if cast(CursorResult[Any], c.execute(_FILE_FETCHED, values)).rowcount == 1:
                _forget(s, record_id)
            else:  # filed before (a retry after a crash): its attachment rows are replaced
                self._update_message(s, values)
                c.execute(_DELETE_ATTACHMENTS, {"record_id": record_id})
            self._note_ref(ref)
            if attachments:
                c.execute(_ADD_ATTACHMENT, [_attachment_values(record_id, a) for a in attachments])
            fresh = _new_outbox(c, record_id, outbox, now)
            if fresh:
                c.execute(_QUEUE, fresh)

    @_guarded
    def attachments(self, record_id: int) -> list[StoredAttachment]:
        """The attachments filed for ``record_id``, in the order they were given."""
        query = select(AttachmentRow).where(AttachmentRow.record_id == record_id)
        with self._tx() as s:
            return [_stored(row) for row in s.scalars(query.order_by(AttachmentRow.id))]

    @_guarded
    def mark_moved(self, record_ids: Iterable[int], now: datetime) -> int:
        """Set filed messages ``moved`` after the IMAP move; returns how many changed."""
        ids = list(record_ids)
        stmt = update(MessageRow).where(MessageRow.id.in_(ids), MessageRow.state == "filed")
        return self._rowcount(stmt.values(state="moved", updated_at=now))

    @_guarded
    def pending_moves(self, mailbox: str) -> list[MessageRecord]:
        """Messages of ``mailbox`` filed but not yet moved: a crash came in between (case 7)."""
        return self._messages(MessageRow.mailbox == mailbox, MessageRow.state == "filed")

    @_guarded
    def record_failure(self, record_id: int, step: str, error: str, now: datetime) -> int:
        """Count one more failed attempt at ``step``; returns the attempts so far."""
        stmt = update(MessageRow).where(MessageRow.id == record_id)
        values = {"attempts": MessageRow.attempts + 1, "updated_at": now}
        with self._tx() as s:
            c = _core(s)
            c.execute(stmt.values(**values, last_error=f"{step}: {error}"))
            _forget(s, record_id)
            attempts = c.scalar(select(MessageRow.attempts).where(MessageRow.id == record_id))
            if attempts is None:
                raise StoreError(f"database {self._safe_url}: no message record {record_id}")
            return int(attempts)

    @_guarded
    def quarantine(self, record_id: int, reason: str, now: datetime) -> None:
        """Give up on a message: state ``quarantined``, with the reason."""
        self._set_state(record_id, "quarantined", now, error=reason)

    @_guarded
    def mark_duplicate(self, record_id: int, of_id: int, now: datetime) -> None:
        """Mark a message as a copy of ``of_id`` (same content, seen before)."""
        self._set_state(record_id, "duplicate", now, error=None, duplicate_of=of_id)

    @_guarded
    def quarantined(self) -> list[MessageRecord]:
        """Every quarantined message, oldest first, for ``mailbot quarantine list``."""
        return self._messages(MessageRow.state == "quarantined")

    @_guarded
    def requeue(self, record_id: int, now: datetime) -> bool:
        """Send a quarantined message round again (attempts 0); False if it was not quarantined.

        A ``fetched`` record has no attachment rows (:meth:`file_message`
        relies on it), so any are removed here.
        """
        stmt = update(MessageRow).where(MessageRow.id == record_id)
        stmt = stmt.where(MessageRow.state == "quarantined")
        with self.together():
            if self._rowcount(stmt.values(state="fetched", attempts=0, updated_at=now)) != 1:
                return False
            self._rowcount(delete(AttachmentRow).where(AttachmentRow.record_id == record_id))
            return True

    def _set_state(
        self, record_id: int, state: MessageState, now: datetime, *, error: str | None, **more: Any
    ) -> None:
        values = {"record_id": record_id, "state": state, "last_error": error, "updated_at": now}
        with self._tx() as s:
            self._update_message(s, {**values, **more})

    def _update_message(self, s: Session, values: dict[str, Any]) -> None:
        """Set the columns in ``values`` on message ``values["record_id"]``, which must exist."""
        if cast(CursorResult[Any], _core(s).execute(_FILE, values)).rowcount != 1:
            raise StoreError(f"database {self._safe_url}: no message record {values['record_id']}")
        _forget(s, values["record_id"])

    # -- status -----------------------------------------------------------

    @_guarded
    def counts(self) -> StoreCounts:
        """Totals for ``mailbot status``."""
        with self._tx() as s:
            return StoreCounts(
                by_state=_count(s, MessageRow.state),
                by_kind=_count(s, MessageRow.kind),
                by_folder=_count(s, MessageRow.folder),
                outbox_by_state=_count(s, OutboxRow.state),
                last_sync_at=s.scalar(select(func.max(SyncStateRow.last_sync_at))),
            )

    # -- outbox -----------------------------------------------------------

    @_guarded
    def next_ref(self, prefix: str, year: int, month: int) -> str:
        """The next free reference number of ``prefix`` in that month (``TB-2026-01-008``).

        Called inside :meth:`together` with the filing that uses the number,
        it is taken under a lock held until that transaction ends: SQLite's
        ``BEGIN IMMEDIATE`` write lock, or one PostgreSQL transaction-level
        advisory lock for all numbers; the unique ``ref`` column stays the
        last guard. One lock, not one per stem: a batch's transaction takes
        numbers of several stems, and two processes sharing the database
        would otherwise each hold one stem and wait for the other's.

        Inside :meth:`together` the last number of each stem is remembered
        (the lock is held, so no one else takes one) and advanced by
        :meth:`file_message`: a batch asks the database once per stem.
        """
        stem = f"{prefix}-{year:04d}-{month:02d}-"
        shared = self._shared()
        if shared is not None and stem in shared.last_refs:
            return f"{stem}{shared.last_refs[stem] + 1:03d}"
        with self._tx() as s:
            c = _core(s)
            if self._engine.dialect.name == "postgresql":
                c.execute(select(func.pg_advisory_xact_lock(PG_REF_LOCK)))
            if self._engine.dialect.name == "sqlite":
                last = c.scalar(_LAST_REF["sqlite"], {"pattern": stem + "*"})
            else:
                last = c.scalar(_LAST_REF["other"], {"pattern": stem + "%"})
        number = _ref_number(last) if last else 0
        if shared is not None:
            shared.last_refs[stem] = number
        return f"{stem}{number + 1:03d}"

    def _note_ref(self, ref: str | None) -> None:
        """A number of a stem :meth:`next_ref` remembers was written: remember it instead."""
        shared = self._shared()
        if ref is None or shared is None:
            return
        stem = ref.rsplit("-", 1)[0] + "-"
        if stem in shared.last_refs:
            shared.last_refs[stem] = max(shared.last_refs[stem], _ref_number(ref))

    @_guarded
    def by_ref(self, ref: str) -> MessageRecord | None:
        """The record with reference number ``ref``."""
        return self._first(_BY_REF, ref=ref)

    @_guarded
    def thread_root(self, message_ids: Sequence[str]) -> MessageRecord | None:
        """The record a reply belongs to: by its own Message-ID or one of our replies to it.

        ``message_ids`` are the reply's In-Reply-To and References, newest
        first. A record that joined another is followed to the one it joined.
        """
        if not message_ids:
            return None
        with self._tx() as s:
            c = _core(s)
            for mid in message_ids:
                row = _record_for_message_id(c, mid)
                if row is not None:
                    while row.thread_of is not None and (
                        up := c.execute(_BY_ID, {"id": row.thread_of}).first()
                    ):
                        row = up
                    return _message(row)
        return None

    @_guarded
    def reply_counts(
        self, address: str, around: datetime, now: datetime, caps: tuple[int, int]
    ) -> tuple[int, int]:
        """Receipts to ``address`` for messages dated within an hour of ``around``,
        and receipts to anyone queued in the last day, each counted up to its cap.

        The per-sender window follows the messages' own dates, so a backlog of
        old mail spread over months is not capped, while a robot answering
        every receipt (its replies dated minutes apart) is.
        """
        params = {
            "address": address,
            "start": around - timedelta(hours=1),
            "end": around + timedelta(hours=1),
            "sender_cap": caps[0],
            "since": now - timedelta(days=1),
            "day_cap": caps[1],
        }
        with self._tx() as s:
            row = _core(s).execute(_REPLY_COUNTS, params).one()
            return int(row[0] or 0), int(row[1] or 0)

    @_guarded
    def records(
        self,
        *,
        kinds: Sequence[str] = (),
        mailbox: str | None = None,
    ) -> list[MessageRecord]:
        """Filed records (with a reference), optionally of ``kinds`` and of one mailbox."""
        where: list[ColumnElement[bool]] = [MessageRow.ref.is_not(None)]
        if mailbox is not None:
            where.append(MessageRow.mailbox == mailbox)
        if kinds:
            where.append(MessageRow.kind.in_(list(kinds)))
        return self._messages(*where)

    @_guarded
    def pending_outbox(self, now: datetime, limit: int) -> list[OutboxRecord]:
        """Up to ``limit`` outbox rows due for sending, oldest first."""
        due = (OutboxRow.next_attempt_at.is_(None)) | (OutboxRow.next_attempt_at <= now)
        query = select(OutboxRow).where(OutboxRow.state == "pending", due)
        with self._tx() as s:
            return [_outbox(r) for r in s.scalars(query.order_by(OutboxRow.id).limit(limit))]

    @_guarded
    def sending_outbox(self) -> list[OutboxRecord]:
        """Rows left ``sending`` by a crash: check Sent by Message-ID before any resend (case 8)."""
        query = select(OutboxRow).where(OutboxRow.state == "sending").order_by(OutboxRow.id)
        with self._tx() as s:
            return [_outbox(r) for r in s.scalars(query)]

    @_guarded
    def mark_sending(self, outbox_id: int) -> bool:
        """Take a pending row for sending (one more attempt); False if someone else took it."""
        stmt = update(OutboxRow).where(OutboxRow.id == outbox_id, OutboxRow.state == "pending")
        return self._rowcount(stmt.values(state="sending", attempts=OutboxRow.attempts + 1)) == 1

    @_guarded
    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """The server accepted the mail (250): the row is done."""
        stmt = update(OutboxRow).where(OutboxRow.id == outbox_id)
        self._rowcount(stmt.values(state="sent", sent_at=now, last_error=None))

    @_guarded
    def mark_outbox_failed(
        self, outbox_id: int, error: str, now: datetime, *, retry_at: datetime | None
    ) -> None:
        """A send failed: pending again from ``retry_at``, or ``failed`` for good when None."""
        state: OutboxState = "failed" if retry_at is None else "pending"
        retry = None if retry_at is None else max(retry_at, now)
        stmt = update(OutboxRow).where(OutboxRow.id == outbox_id)
        self._rowcount(stmt.values(state=state, next_attempt_at=retry, last_error=error))

    @_guarded
    def lease_outbox(self, outbox_id: int, until: datetime) -> bool:
        """Like ``mark_sending``, with a lease: False if someone else took the row.

        While a row is ``sending``, ``next_attempt_at`` holds when its lease
        ends: a row still ``sending`` after that was left by a crash (case 8),
        and one before it is being sent by a live process, not to be touched.
        """
        stmt = update(OutboxRow).where(OutboxRow.id == outbox_id, OutboxRow.state == "pending")
        values = {"state": "sending", "attempts": OutboxRow.attempts + 1, "next_attempt_at": until}
        return self._rowcount(stmt.values(**values)) == 1

    @_guarded
    def reclaim_outbox(self, outbox_id: int, now: datetime, until: datetime, note: str) -> bool:
        """Take a row left ``sending`` whose lease ended by ``now``, for one resend (case 8).

        Sets a new lease, counts one more attempt and writes ``note`` to
        ``last_error``, so a second crash can be told from the first. False if
        the lease still runs or another process reclaimed the row first.
        """
        lapsed = OutboxRow.next_attempt_at.is_(None) | (OutboxRow.next_attempt_at <= now)
        stmt = update(OutboxRow).where(
            OutboxRow.id == outbox_id, OutboxRow.state == "sending", lapsed
        )
        values = {"attempts": OutboxRow.attempts + 1, "next_attempt_at": until, "last_error": note}
        return self._rowcount(stmt.values(**values)) == 1

    @_guarded
    def personal_records(
        self,
        *,
        roles: Sequence[str] = (),
        before: datetime | None = None,
        sender: str | None = None,
        mailbox: str | None = None,
    ) -> list[MessageRecord]:
        """Records holding someone's personal data: by role and age, or by sender address."""
        where: list[ColumnElement[bool]] = [MessageRow.sender_addr.is_not(None)]
        if mailbox is not None:
            where.append(MessageRow.mailbox == mailbox)
        if roles:
            where.append(MessageRow.role.in_(list(roles)))
        if before is not None:
            where.append(MessageRow.created_at < before)
        if sender is not None:
            where.append(MessageRow.sender_addr == sender.lower())
        return self._messages(*where)

    @_guarded
    def anonymise(self, record_ids: Sequence[int], address: str | None, now: datetime) -> int:
        """Erase personal data from records, keeping what the reports count.

        Kind, role, group, topics, urgency, status, reference and date stay (the
        monthly counts need them); sender, subject, reasons, notes, the raw
        file's path and the content hash go, so a later mail from the same
        person is never mistaken for an old one. Attachment rows are deleted,
        and outgoing mail to ``address`` loses its bytes.
        """
        ids = list(record_ids)
        with self._tx() as s:
            s.execute(delete(AttachmentRow).where(AttachmentRow.record_id.in_(ids)))
            for row in s.scalars(select(MessageRow).where(MessageRow.id.in_(ids))):
                _erase(row, now)
            if address:
                _erase_outbox(s, address)
        return len(ids)

    @_guarded
    def mark_forwarded(self, record_id: int, now: datetime) -> None:
        """Record that an approved article was sent to the department."""
        self._rowcount(
            update(MessageRow).where(MessageRow.id == record_id).values(forwarded_at=now)
        )

    @_guarded
    def all_runs(self) -> list[JobRun]:
        """Every job run, oldest first."""
        with self._tx() as s:
            return [_job(row) for row in s.scalars(select(JobRunRow).order_by(JobRunRow.id))]

    @_guarded
    def enqueue(self, items: Sequence[OutboxItem], now: datetime) -> int:
        """Queue outgoing mail that no incoming message caused (jobs, alerts, digests).

        Idempotent by Message-ID like ``file_message``; returns how many were new.
        """
        with self._tx() as s:
            c = _core(s)
            rows = _new_outbox(c, None, items, now)
            if rows:
                c.execute(_QUEUE, rows)
            return len(rows)

    # -- job runs ---------------------------------------------------------

    @_guarded
    def start_job(
        self, job: str, period: str, now: datetime, stale: timedelta = timedelta(hours=1)
    ) -> bool:
        """Start ``job`` for ``period``; False if it is running or done for that period.

        A failed run may start again, and so may a run left ``running`` for
        longer than ``stale`` (its process died). Every step of a job is itself
        idempotent (outbox Message-IDs, ``forwarded_at``), so a rerun repeats
        nothing. The unique ``(job, period)`` key decides a race.
        """
        restartable = (JobRunRow.state == "failed") | (
            (JobRunRow.state == "running") & (JobRunRow.started_at < now - stale)
        )
        restart = update(JobRunRow).where(
            JobRunRow.job == job, JobRunRow.period == period, restartable
        )
        values = {"state": "running", "started_at": now, "finished_at": None, "detail": None}
        if self._rowcount(restart.values(**values)) == 1:
            return True
        try:
            with self._tx() as s:
                s.add(JobRunRow(job=job, period=period, state="running", started_at=now))
            return True
        except IntegrityError:
            return False

    @_guarded
    def finish_job(
        self, job: str, period: str, state: RunState, now: datetime, detail: str | None = None
    ) -> None:
        """Record how the run of ``job`` for ``period`` ended."""
        stmt = update(JobRunRow).where(JobRunRow.job == job, JobRunRow.period == period)
        self._rowcount(stmt.values(state=state, finished_at=now, detail=detail))

    @_guarded
    def last_runs(self) -> list[JobRun]:
        """The latest period's run of each job, by job name."""
        query = select(JobRunRow).order_by(JobRunRow.job, JobRunRow.period)
        with self._tx() as s:
            latest = {row.job: _job(row) for row in s.scalars(query)}
        return list(latest.values())

    # -- helpers ----------------------------------------------------------

    def _first(self, query: Select[Any], **params: Any) -> MessageRecord | None:
        """The first row of a prebuilt ``query`` with ``params``, or None."""
        with self._tx() as s:
            row = _core(s).execute(query, params).first()
            return _message(row) if row else None

    def _first_message(self, *where: ColumnElement[bool]) -> MessageRecord | None:
        """The oldest message matching every condition in ``where``, or None."""
        query = select(MessageRow).where(*where).order_by(MessageRow.id).limit(1)
        with self._tx() as s:
            row = s.scalars(query).first()
            return _message(row) if row else None

    def _messages(self, *where: ColumnElement[bool]) -> list[MessageRecord]:
        """Every message matching every condition in ``where``, oldest first."""
        query = select(MessageRow).where(*where).order_by(MessageRow.id)
        with self._tx() as s:
            return [_message(row) for row in s.scalars(query)]

    def _rowcount(self, stmt: Any) -> int:
        """Run a Core UPDATE; rows it changed and the session holds are expired."""
        with self._tx() as s:
            count = cast(CursorResult[Any], _core(s).execute(stmt)).rowcount
            s.expire_all()
            return count


# -- engine ---------------------------------------------------------------


def _parse_url(url: str) -> URL:
    """``url`` parsed; an unparsable one is not echoed, since it may hold a password."""
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreError(
            "the database URL is not valid: expected e.g. sqlite:///store/mailbot.sqlite3 "
            "or postgresql+psycopg://mailbot@localhost/mailbot"
        ) from None


def _create_engine(url: URL) -> Engine:
    """An engine for ``url``; for SQLite, the folder, pragmas and immediate transactions."""
    if url.get_backend_name() != "sqlite":
        return _checked(url, lambda: create_engine(url, pool_pre_ping=True))
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise StoreError("SQLite needs a file path, e.g. sqlite:///store/mailbot.sqlite3")
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for {database}: {exc.strerror}") from exc
    engine = _checked(url, lambda: create_engine(url))
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _checked(url: URL, build: Callable[[], Engine]) -> Engine:
    """Run ``build``; an unknown dialect or a missing driver becomes a ``StoreError``."""
    safe = url.render_as_string(hide_password=True)
    try:
        return build()
    except ArgumentError as exc:
        raise StoreError(f"database {safe}: {_first_line(exc)}") from None
    except ImportError as exc:
        hint = "install the driver, e.g. pip install 'mailbot[postgres]'"
        raise StoreError(f"database {safe}: {exc}; {hint}") from None


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """Set the SQLite pragmas on every new connection; SQLAlchemy issues BEGIN itself."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Start every SQLite transaction holding the write lock; see the module doc."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- rows <-> records -----------------------------------------------------


class _Shared:
    """The transaction of :meth:`Store.together`: its session, and what it may remember.

    ``last_refs``: by stem (``TB-2026-01-``), the last reference number
    taken in the database, as seen under the numbers' lock.
    """

    __slots__ = ("last_refs", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.last_refs: dict[str, int] = {}


def _ref_number(ref: str) -> int:
    """The number at the end of a reference (``TB-2026-01-008`` → 8)."""
    return int(ref.rsplit("-", 1)[1])


_CONNECTION = "mailbot.core"


def _core(s: Session) -> Connection:
    """The connection of ``s``'s transaction, for the prebuilt Core statements.

    ``Session.execute`` takes even a plain table select through the ORM's
    loading machinery, which costs two to four times what SQLite takes to
    run the statement. The session's pending ORM changes are flushed first,
    as its autoflush would, so the statement sees them. The connection is
    kept in the session's ``info`` for as long as its innermost transaction
    lasts (asking the session for it costs about as much as a statement,
    and is what begins a savepoint's SAVEPOINT).
    """
    s.flush()
    tx = s.get_nested_transaction() or s.get_transaction()
    known = s.info.get(_CONNECTION)
    if known is not None and known[0] is tx:
        return cast(Connection, known[1])
    conn = s.connection()
    s.info[_CONNECTION] = (tx, conn)
    return conn


def _is_locked(exc: BaseException | None) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (or busy) refusal."""
    text = str(exc.orig if isinstance(exc, DBAPIError) else exc).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


def _record_for_message_id(c: Connection, mid: str) -> Row[Any] | None:
    row = c.execute(_REF_BY_MESSAGE_ID, {"mid": mid}).first()
    if row is not None:
        return row
    cause = c.scalar(_CAUSE_OF_OUR_REPLY, {"mid": mid})
    return c.execute(_BY_ID, {"id": cause}).first() if cause is not None else None


PURGED = "(đã xóa theo quy định bảo vệ dữ liệu cá nhân)"


def _erase(row: MessageRow, now: datetime) -> None:
    row.sender_addr = row.sender_name = row.in_reply_to = row.references = None
    row.subject, row.reasons, row.note, row.raw_path = PURGED, [], None, None
    row.sha256 = f"purged-{row.id}"
    row.message_id = f"<purged-{row.id}@mailbot.invalid>"
    row.updated_at = now


def _erase_outbox(s: Session, address: str) -> None:
    for row in s.scalars(select(OutboxRow)):
        if address in row.recipients:
            row.raw, row.recipients = b"", [PURGED]


def _apply_changes(s: Session, changes: Sequence[StatusChange], now: datetime) -> None:
    for change in changes:
        target = s.get(MessageRow, change.record_id, with_for_update=True)
        if target is not None:
            target.status, target.note = change.status, change.note or target.note
            target.decided_by, target.decided_at = change.by, now


def _forget(s: Session, record_id: int) -> None:
    """Expire the session's copy of a row changed by a plain UPDATE, so no one reads it stale."""
    loaded = s.identity_map.get(s.identity_key(MessageRow, record_id))
    if loaded is not None:
        s.expire(loaded)


def _attachment_values(record_id: int, att: StoredAttachment) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "name": att.name,
        "stored_path": att.stored_path,
        "content_type": att.content_type,
        "size": att.size,
        "skipped": att.skipped,
    }


def _new_outbox(
    c: Connection, cause_id: int | None, items: Sequence[OutboxItem], now: datetime
) -> list[dict[str, Any]]:
    """Outbox rows for the items whose Message-ID is not queued yet (idempotency key)."""
    if not items:
        return []
    ids = [item.message_id for item in items]
    queued = set(c.scalars(_QUEUED_IDS, {"ids": ids}))
    fresh = {item.message_id: item for item in items if item.message_id not in queued}
    return [_outbox_values(cause_id, item, now) for item in fresh.values()]


def _outbox_values(cause_id: int | None, item: OutboxItem, now: datetime) -> dict[str, Any]:
    return {
        "message_id": item.message_id,
        "purpose": item.purpose,
        "cause_id": cause_id,
        "recipients": list(item.recipients),
        "raw": item.raw,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }


def _count(s: Session, column: Any) -> dict[str, int]:
    """Rows per value of ``column`` (NULL left out)."""
    query = select(column, func.count()).where(column.is_not(None)).group_by(column)
    return {str(value): int(n) for value, n in s.execute(query)}


def _sync(row: SyncStateRow) -> SyncState:
    return SyncState(
        mailbox=row.mailbox,
        uidvalidity=row.uidvalidity,
        last_uid=row.last_uid,
        last_sync_at=row.last_sync_at,
        first_sync_at=row.first_sync_at,
    )


def _fresh(record_id: int, values: dict[str, Any]) -> MessageRecord:
    """The record a claim has just inserted with ``values``."""
    return MessageRecord(
        id=record_id,
        mailbox=values["mailbox"],
        uidvalidity=values["uidvalidity"],
        uid=values["uid"],
        sha256=values["sha256"],
        message_id=values["message_id"],
        state="fetched",
        attempts=0,
        created_at=values["created_at"],
        updated_at=values["updated_at"],
    )


def _message(row: MessageRow | Row[Any]) -> MessageRecord:
    """A frozen record from an ORM row or a plain one (same column names)."""
    return MessageRecord(
        id=row.id,
        mailbox=row.mailbox,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        sha256=row.sha256,
        message_id=row.message_id,
        state=cast(MessageState, row.state),
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_error=row.last_error,
        duplicate_of=row.duplicate_of,
        sender_addr=row.sender_addr,
        sender_name=row.sender_name,
        subject=row.subject,
        date=row.date,
        in_reply_to=row.in_reply_to,
        references=tuple((row.references or "").split()),
        role=row.role,
        group=row.group,
        kind=row.kind,
        topics=tuple(row.topics or ()),
        urgent=row.urgent,
        reasons=tuple(row.reasons or ()),
        folder=row.folder,
        raw_path=row.raw_path,
        ref=row.ref,
        status=row.status,
        note=row.note,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        thread_of=row.thread_of,
        forwarded_at=row.forwarded_at,
    )


def _stored(row: AttachmentRow) -> StoredAttachment:
    return StoredAttachment(
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        stored_path=row.stored_path,
        skipped=row.skipped,
    )


def _outbox(row: OutboxRow) -> OutboxRecord:
    return OutboxRecord(
        id=row.id,
        message_id=row.message_id,
        purpose=row.purpose,
        cause_id=row.cause_id,
        recipients=tuple(row.recipients),
        raw=row.raw,
        state=cast(OutboxState, row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def _job(row: JobRunRow) -> JobRun:
    return JobRun(
        job=row.job,
        period=row.period,
        state=cast(RunState, row.state),
        started_at=row.started_at,
        finished_at=row.finished_at,
        detail=row.detail,
    )
