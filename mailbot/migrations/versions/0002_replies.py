"""Replies: a record's status (pending/approved/rejected, open/handled), its note,
who decided and when, the thread it joins, and when it was forwarded.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns approval by reply and forwarding need."""
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.Text(), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("thread_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_messages_thread_of"), ["thread_of"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_messages_thread_of_messages"),
            "messages",
            ["thread_of"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(batch.f("fk_messages_thread_of_messages"), type_="foreignkey")
        batch.drop_index(batch.f("ix_messages_thread_of"))
        for column in ("forwarded_at", "thread_of", "decided_at", "decided_by", "note", "status"):
            batch.drop_column(column)
