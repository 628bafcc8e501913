"""Shared test setup: the Dovecot fixtures live in ``tests/dovecot.py``, the SMTP
server in ``tests/smtpd.py``."""

pytest_plugins = ["tests.dovecot", "tests.smtpd"]
