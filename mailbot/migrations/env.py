"""Alembic environment: runs migrations on the connection ``Store`` hands over.

``Store.upgrade`` puts an open connection in ``config.attributes["connection"]``,
so the migrations run inside the store's own engine settings (SQLite pragmas,
the PostgreSQL search path) and never read a URL or an ini file of their own.
"""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from mailbot.shell.db import Base, UTCDateTime


def render_item(kind: str, obj: object, autogen: AutogenContext) -> str | Literal[False]:
    """Write ``UTCDateTime`` as the plain type it stores, so migrations stay frozen.

    A migration that imported ``mailbot.shell.db`` would change when the models
    change; a migration must describe the schema as it was.
    """
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    """Apply the pending migrations in one transaction on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Entry point Alembic calls when it loads this file."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "mailbot migrations run through Store.upgrade(), which passes a connection"
        )
    run_migrations(connection)


main()
