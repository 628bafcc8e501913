"""Shared test setup.

Dovecot and aiosmtpd fixtures live in ``tests/dovecot.py`` and ``tests/smtpd.py``.

The whole suite runs on SQLite by default. With ``MAILBOT_TEST_DATABASE_URL``
set to a PostgreSQL server (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``),
every test gets a fresh database of its own on that server, named in
``MAILBOT_DATABASE_URL`` for the test's duration; the helpers in
``tests/app/helpers.py`` and the command line pick it up from there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

pytest_plugins = ["tests.dovecot", "tests.smtpd"]


@pytest.fixture(autouse=True)
def _database_per_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh PostgreSQL database per test when MAILBOT_TEST_DATABASE_URL asks for one."""
    base = os.environ.get("MAILBOT_TEST_DATABASE_URL")
    if not base:
        monkeypatch.delenv("MAILBOT_DATABASE_URL", raising=False)
        yield
        return
    url = make_url(base)
    name = f"mailbot_t_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("MAILBOT_DATABASE_URL", url.set(database=name).render_as_string(False))
    try:
        yield
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
