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
    """Index messages by sender, and the outbox by time then purpose.

    Time first: with purpose first, SQLite would find a sender's receipts by
    scanning every receipt instead of going through the sender's messages.
    """
    op.create_index(op.f("ix_messages_sender_addr"), "messages", ["sender_addr"], unique=False)
    op.create_index(
        op.f("ix_outbox_created_at_purpose"), "outbox", ["created_at", "purpose"], unique=False
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_index(op.f("ix_outbox_created_at_purpose"), table_name="outbox")
    op.drop_index(op.f("ix_messages_sender_addr"), table_name="messages")
