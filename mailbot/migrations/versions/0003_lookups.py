"""Indexes for the questions asked before every decision: receipts already
sent to a sender, and receipts queued in the last day.

Without them both are full scans, so filing a backlog slowed down as it grew.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index messages by sender address, and the outbox by time."""
    op.create_index(op.f("ix_messages_sender_addr"), "messages", ["sender_addr"], unique=False)
    op.create_index(op.f("ix_outbox_created_at"), "outbox", ["created_at"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    op.drop_index(op.f("ix_outbox_created_at"), table_name="outbox")
    op.drop_index(op.f("ix_messages_sender_addr"), table_name="messages")
