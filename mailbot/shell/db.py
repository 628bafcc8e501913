"""The database tables, as typed SQLAlchemy models.

Only ``shell/store.py`` (and the migrations, which compare against these
models) imports this module: callers get frozen records, never ORM rows, so the
rest of mailbot does not depend on SQLAlchemy.

The types are portable between SQLite and PostgreSQL: ``sqlalchemy.JSON`` for
lists, ``Text`` for anything a sender controls (no length limit to overflow),
and ``UTCDateTime`` for instants. States are short strings guarded by CHECK
constraints rather than database enums, which SQLite lacks and which need an
``ALTER TYPE`` on PostgreSQL for every new state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "MESSAGE_STATES",
    "OUTBOX_STATES",
    "RUN_STATES",
    "AttachmentRow",
    "Base",
    "JobRunRow",
    "MessageRow",
    "OutboxRow",
    "SyncStateRow",
    "UTCDateTime",
]

MESSAGE_STATES = ("fetched", "filed", "moved", "quarantined", "duplicate")
OUTBOX_STATES = ("pending", "sending", "sent", "failed")
RUN_STATES = ("running", "done", "failed")

# Deterministic constraint names, so that migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    """SQL text for ``column IN (values)``, for a CHECK constraint."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC, read back aware.

    SQLite has no time zone type and returns naive values; PostgreSQL's
    ``timestamptz`` returns them in the session's zone. Both come back here
    as UTC. A naive datetime is refused on the way in: it would be ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class SyncStateRow(Base):
    """How far one mailbox has been read: the UIDVALIDITY and the last UID seen."""

    __tablename__ = "sync_state"

    mailbox: Mapped[str] = mapped_column(Text, primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    last_sync_at: Mapped[datetime]
    first_sync_at: Mapped[datetime]


class MessageRow(Base):
    """The ledger row of one incoming message and, once filed, what it was filed as.

    The natural key is ``(mailbox, uidvalidity, uid)`` (RELIABILITY rule 4);
    ``sha256`` and ``message_id`` are indexed for the dedupe of cases 9-11.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid"),
        CheckConstraint(_in("state", MESSAGE_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(Text)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(Text, index=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    sender_addr: Mapped[str | None] = mapped_column(Text, index=True)
    sender_name: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    date: Mapped[datetime | None]
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(String(32))
    group: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32))
    topics: Mapped[list[str] | None] = mapped_column(JSON)
    urgent: Mapped[bool | None] = mapped_column(Boolean)
    reasons: Mapped[list[str] | None] = mapped_column(JSON)
    folder: Mapped[str | None] = mapped_column(Text)
    raw_path: Mapped[str | None] = mapped_column(Text)
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    thread_of: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    forwarded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AttachmentRow(Base):
    """One attachment of a filed message; ``stored_path`` is None when skipped."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    stored_path: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    skipped: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """One outgoing mail, written in the same transaction as its cause (rule 5).

    ``message_id`` is the deterministic Message-ID: the idempotency key of the
    send, and what a crashed ``sending`` row is looked up by in Sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        Index("ix_outbox_created_at_purpose", "created_at", "purpose"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(Text, unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    cause_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class JobRunRow(Base):
    """One run of a scheduled job for one period; unique, so a job runs once per period."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "period"),
        CheckConstraint(_in("state", RUN_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    detail: Mapped[str | None] = mapped_column(Text)
