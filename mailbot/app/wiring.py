"""Build the object graph from :class:`~mailbot.config.Settings`: the one place
that constructs adapters (house rule 6: no globals, no registries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.app.ingest import Ingest
from mailbot.config import Settings
from mailbot.core.parse import Limits
from mailbot.core.rules import RuleSet
from mailbot.core.trust import TrustPolicy
from mailbot.rules_file import load_rules
from mailbot.shell.blobs import Blobs
from mailbot.shell.clock import Clock, SystemClock
from mailbot.shell.imap import ImapSource
from mailbot.shell.maildir import MaildirSource
from mailbot.shell.source import MailSource
from mailbot.shell.store import Store

__all__ = ["App", "build", "source_factory"]


@dataclass
class App:
    """The long-lived parts of a running mailbot."""

    settings: Settings
    rules: RuleSet
    store: Store
    blobs: Blobs
    clock: Clock
    connect: Callable[[], MailSource]

    @property
    def mailbox_key(self) -> str:
        """The ledger's name for the watched folder."""
        return f"{self.settings.mailbox}/{self.settings.imap.folder}"

    def ingest(self, source: MailSource, stop: Callable[[], bool] = lambda: False) -> Ingest:
        """An ingest pass over ``source`` with this app's rules, store and limits."""
        s = self.settings
        return Ingest(
            source=source,
            store=self.store,
            blobs=self.blobs,
            rules=self.rules,
            policy=TrustPolicy(s.receiving_server, s.trust_unauthenticated),
            clock=self.clock,
            mailbox=self.mailbox_key,
            limits=Limits(
                max_message_bytes=s.max_message_bytes,
                max_attachment_bytes=s.max_attachment_bytes,
            ),
            batch_size=s.imap.batch_size,
            max_attempts=s.max_attempts,
            stop_requested=stop,
        )

    def close(self) -> None:
        self.store.close()


def source_factory(settings: Settings, folder: str | None = None) -> Callable[[], MailSource]:
    """How to open the mailbox: IMAP when a host is set, else the local Maildir."""
    imap = settings.imap
    name = folder or imap.folder
    if not imap.host:
        return lambda: MaildirSource(settings.maildir_path, folder=name)

    def connect() -> MailSource:
        return ImapSource.connect(
            imap.host,
            imap.port,
            imap.security,
            imap.user,
            imap.password,
            folder=name,
            timeout=imap.timeout_seconds,
        )

    return connect


def build(settings: Settings, *, clock: Clock | None = None, upgrade: bool = True) -> App:
    """Load the rules, open the store (migrating it) and prepare the mailbox connection."""
    rules = load_rules(settings.rules_dir)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.db_url)
    if upgrade:
        store.upgrade()
    return App(
        settings=settings,
        rules=rules,
        store=store,
        blobs=Blobs(settings.store_dir),
        clock=clock or SystemClock(),
        connect=source_factory(settings),
    )
