"""Shared test setup: the Dovecot fixtures live in ``tests/dovecot.py``."""

pytest_plugins = ["tests.dovecot"]
