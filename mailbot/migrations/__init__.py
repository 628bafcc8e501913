"""Alembic migrations for mailbot's database, shipped inside the package.

``Store.upgrade`` runs them programmatically: no ``alembic.ini`` is needed at
run time. To write a new one from a checkout, see ``versions/`` and
``mailbot.shell.store.alembic_config``.
"""
