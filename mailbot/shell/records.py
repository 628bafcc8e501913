"""Frozen values that ``Store`` takes and returns, never ORM rows.

Callers (``app/``) see these and nothing of SQLAlchemy: a record read in one
transaction cannot lazily load, expire or write back in another, and tests can
build them by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "Claim",
    "JobRun",
    "MessageRecord",
    "MessageState",
    "OutboxItem",
    "OutboxRecord",
    "OutboxState",
    "RunState",
    "StoreCounts",
    "StoredAttachment",
    "SyncState",
]

MessageState = Literal["fetched", "filed", "moved", "quarantined", "duplicate"]
OutboxState = Literal["pending", "sending", "sent", "failed"]
RunState = Literal["running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class SyncState:
    """How far one mailbox has been read (RELIABILITY rule 4: state in the DB, not ``\\Seen``)."""

    mailbox: str
    uidvalidity: int
    last_uid: int
    last_sync_at: datetime
    first_sync_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One ledger row: the message's key, its state and, once filed, its labels."""

    id: int
    mailbox: str
    uidvalidity: int
    uid: int
    sha256: str
    message_id: str
    state: MessageState
    attempts: int
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None
    duplicate_of: int | None = None
    sender_addr: str | None = None
    sender_name: str | None = None
    subject: str | None = None
    date: datetime | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    role: str | None = None
    group: str | None = None
    kind: str | None = None
    topics: tuple[str, ...] = ()
    urgent: bool | None = None
    reasons: tuple[str, ...] = ()
    folder: str | None = None
    raw_path: str | None = None
    ref: str | None = None
    status: str | None = None
    note: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    thread_of: int | None = None
    forwarded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of ``Store.claim``: the ledger row, and whether this call created it."""

    record: MessageRecord
    created: bool


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment as written by ``Blobs``: ``stored_path`` is None when skipped."""

    name: str
    content_type: str
    size: int
    stored_path: str | None
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outgoing mail to queue; ``message_id`` is its deterministic Message-ID."""

    message_id: str
    purpose: str
    recipients: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row, as the sender drains it."""

    id: int
    message_id: str
    purpose: str
    cause_id: int | None
    recipients: tuple[str, ...]
    raw: bytes
    state: OutboxState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a scheduled job for one period, e.g. ``monthly-report`` / ``2026-03``."""

    job: str
    period: str
    state: RunState
    started_at: datetime
    finished_at: datetime | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Totals for ``mailbot status``: messages per state, kind and folder; outbox per state."""

    by_state: Mapping[str, int]
    by_kind: Mapping[str, int]
    by_folder: Mapping[str, int]
    outbox_by_state: Mapping[str, int]
    last_sync_at: datetime | None
