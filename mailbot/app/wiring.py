"""Build the object graph from :class:`~mailbot.config.Settings`: the one place
that constructs adapters (house rule 6: no globals, no registries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.app.ingest import Ingest
from mailbot.app.outbox import DrainReport, drain, make_sender
from mailbot.app.workers import ParsePool, default_workers
from mailbot.config import Settings
from mailbot.core.compose import Identity
from mailbot.core.decide import ReplyContext
from mailbot.core.parse import Limits
from mailbot.core.replies import ReplyPolicy
from mailbot.core.rules import RuleSet
from mailbot.rules_file import load_rules
from mailbot.shell.blobs import Blobs
from mailbot.shell.clock import Clock, SystemClock
from mailbot.shell.imap import ImapSource
from mailbot.shell.maildir import MaildirSource
from mailbot.shell.oauth import TokenProvider
from mailbot.shell.smtp import Sender
from mailbot.shell.source import MailSource
from mailbot.shell.store import Store
from mailbot.templates import Templates, load_templates

__all__ = ["App", "build", "source_factory", "token_provider"]


@dataclass
class App:
    """The long-lived parts of a running mailbot."""

    settings: Settings
    rules: RuleSet
    store: Store
    blobs: Blobs
    clock: Clock
    connect: Callable[[], MailSource]
    templates: Templates
    sender: Sender
    pool: ParsePool | None = None

    def job_name(self, job: str) -> str:
        """A job's name in ``job_runs``: scoped by mailbox when one config lists several,
        so schools sharing a database never see each other's runs."""
        return f"{job}@{self.settings.mailbox}" if self.settings.scoped else job

    def owns_job(self, name: str) -> bool:
        """Whether a ``job_runs`` name belongs to this mailbox."""
        if self.settings.scoped:
            return name.endswith("@" + self.settings.mailbox)
        return "@" not in name

    def unscoped(self, name: str) -> str:
        """The job's plain name (``digest``) from its ``job_runs`` name."""
        return name.removesuffix("@" + self.settings.mailbox)

    @property
    def mailbox_key(self) -> str:
        """The ledger's name for the watched folder."""
        return f"{self.settings.mailbox}/{self.settings.imap.folder}"

    def ingest(self, source: MailSource, stop: Callable[[], bool] = lambda: False) -> Ingest:
        """An ingest pass over ``source`` with this app's rules, store and limits."""
        s = self.settings
        return Ingest(
            replies=self.reply_context(),
            renderer=self.templates,
            source=source,
            store=self.store,
            blobs=self.blobs,
            rules=self.rules,
            policy=s.trust,
            clock=self.clock,
            mailbox=self.mailbox_key,
            limits=limits(s),
            batch_size=s.imap.batch_size,
            max_attempts=s.max_attempts,
            stop_requested=stop,
            pool=self.pool,
        )

    def reply_context(self) -> ReplyContext:
        """Who the service is and what its replies promise; ``since`` defaults to the first sync."""
        s = self.settings
        state = self.store.sync_state(self.mailbox_key)
        since = s.replies.since or (state.first_sync_at if state else self.clock.now())
        leadership = tuple(p.address for p in self.rules.staff.values() if p.role == "leadership")
        return ReplyContext(
            identity=Identity(s.mailbox, f"Truyền thông {s.school_name}"),
            policy=ReplyPolicy(
                own_addresses=frozenset({s.mailbox}),
                own_domain=s.mailbox.rpartition("@")[2],
                per_sender_per_hour=s.replies.per_sender_per_hour,
                global_per_day=s.replies.per_day,
                since=since,
            ),
            trust=s.trust,
            school=s.school_name,
            handler=s.replies.handler,
            answer_days=s.replies.answer_days,
            forward_day=s.schedule.report_day,
            alert_to=leadership,
        )

    def send_queued(self) -> DrainReport:
        """Send what the outbox holds (once each; see ``app.outbox.drain``)."""
        return drain(self.store, self.sender, self.clock)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self.store.close()


def token_provider(settings: Settings) -> TokenProvider | None:
    """One OAuth token provider per process, shared by IMAP and SMTP (cached tokens)."""
    if settings.oauth is None or "xoauth2" not in (settings.imap.auth, settings.smtp.auth):
        return None
    return TokenProvider(settings.oauth, timeout=settings.imap.timeout_seconds)


def source_factory(
    settings: Settings, folder: str | None = None, tokens: TokenProvider | None = None
) -> Callable[[], MailSource]:
    """How to open the mailbox: IMAP when a host is set, else the local Maildir."""
    imap = settings.imap
    tokens = tokens if imap.auth == "xoauth2" else None
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
            token_provider=tokens,
        )

    return connect


def limits(settings: Settings) -> Limits:
    """The parser's bounds from the config's ``limits`` section."""
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_attachment_bytes=settings.max_attachment_bytes,
    )


def _pool(settings: Settings, rules: RuleSet, workers: int) -> ParsePool | None:
    """The parse workers; None for none."""
    if not workers:
        return None
    return ParsePool(limits(settings), rules, settings.trust, workers)


def build(settings: Settings, *, clock: Clock | None = None, upgrade: bool = True) -> App:
    """Load the rules, open the store (migrating it) and prepare the mailbox connection."""
    rules = load_rules(settings.rules_dir)
    workers = settings.imap.parse_workers
    workers = default_workers() if workers is None else workers
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    tokens = token_provider(settings)
    store = Store.open(settings.db_url)
    if upgrade:
        store.upgrade()
    return App(
        settings=settings,
        rules=rules,
        store=store,
        blobs=Blobs(settings.store_dir),
        clock=clock or SystemClock(),
        connect=source_factory(settings, tokens=tokens),
        templates=load_templates(),
        sender=make_sender(settings.smtp, settings.store_dir, tokens),
        pool=_pool(settings, rules, workers),
    )
