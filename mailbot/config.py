"""Settings: one YAML file plus the environment, validated once at start-up.

With no file at all the settings are the demo school's, so that only the
servers need saying. The environment wins over the file. Secrets come from
the environment or from files (``MAILBOT_IMAP_PASSWORD`` or
``MAILBOT_IMAP_PASSWORD_FILE``, or ``password_file:`` in YAML) and never from
the YAML itself, so a config file can be shared without leaking a password.
Plaintext (``security: none``) is accepted only towards a loopback address.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from mailbot.core.trust import TrustPolicy, policy_for
from mailbot.errors import ConfigError, Problem
from mailbot.rules_file import default_rules_dir
from mailbot.shell.imap import is_loopback
from mailbot.shell.oauth import OAuthSettings, oauth_settings_from_env
from mailbot.yamlfile import Node, Reader, read_yaml

__all__ = [
    "ImapSettings",
    "ReplySettings",
    "ReportSettings",
    "ScheduleSettings",
    "Settings",
    "SmtpSettings",
    "load_settings",
]

Security = Literal["ssl", "starttls", "none"]
Provider = Literal["own-server", "google", "microsoft"]
Auth = Literal["password", "xoauth2"]
AUTHS: tuple[Auth, ...] = ("password", "xoauth2")
PROVIDERS: tuple[Provider, ...] = ("own-server", "google", "microsoft")
SECURITY: tuple[Security, ...] = ("ssl", "starttls", "none")
DEFAULT_CONFIG = Path("mailbot.yaml")
Report = Callable[[str], None]
VN = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """The mailbox server; an empty host means the local Maildir is the mailbox."""

    host: str = ""
    port: int = 993
    security: Security = "ssl"
    auth: Auth = "password"
    user: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    poll_seconds: float = 60.0
    idle_seconds: float = 540.0
    reconcile_seconds: float = 900.0
    timeout_seconds: float = 60.0
    batch_size: int = 100
    # Processes parsing a backlog beside the filing; None: one per CPU but one, at most 4.
    parse_workers: int | None = None


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The outgoing server; an empty host writes outgoing mail as .eml files."""

    host: str = ""
    port: int = 465
    security: Security = "ssl"
    auth: Auth = "password"
    user: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ReplySettings:
    """Acknowledgements and alerts: caps, promises, the first date answered."""

    since: datetime | None = None
    per_sender_per_hour: int = 3
    per_day: int = 300
    handler: str = "Ban Giám hiệu nhà trường"
    answer_days: int = 5


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """When the jobs run, in Vietnam's time (Asia/Ho_Chi_Minh)."""

    digest_time: str = "07:00"
    digest_when_empty: bool = False
    reminder_day: int = 10
    report_day: int = 19
    report_time: str = "08:00"


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """The monthly report's letterhead and where the 19th's mail goes."""

    governing_body: str = "UBND XÃ POM LÓT"
    school_upper: str = "TRƯỜNG THCS POM LÓT"
    symbol: str = "THCSPL"
    place: str = "Pom Lót"
    signer_title: str = "HIỆU TRƯỞNG"
    signer_name: str = "Trần Thị Bích Nga"
    recipients: tuple[str, ...] = (
        "Sở GDĐT tỉnh Điện Biên (b/c)",
        "UBND xã Pom Lót (b/c)",
        "BGH, các tổ chuyên môn, đoàn thể",
        "Lưu: VT.",
    )
    period_start_day: int = 20
    department_name: str = "Sở Giáo dục và Đào tạo tỉnh Điện Biên"
    media_to: str = "cntt.sogddt@dienbien.edu.vn"
    media_count: int = 1
    opinion_to: str = ""
    max_forward_bytes: int = 15 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, typed; built only by :func:`load_settings`."""

    mailbox: str = "truyenthong@thcspomlot.edu.vn"
    receiving_server: str = "mx.thcspomlot.edu.vn"
    trust_provider: Provider = "own-server"
    trust_unauthenticated: bool = True
    imap: ImapSettings = field(default_factory=ImapSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    store_dir: Path = Path("store")
    rules_dir: Path = field(default_factory=default_rules_dir)
    database_url: str = ""
    maildir: Path | None = None
    max_message_bytes: int = 40 * 1024 * 1024
    max_attachment_bytes: int = 20 * 1024 * 1024
    max_attempts: int = 3
    log_level: str = "INFO"
    log_file: Path | None = None
    school_name: str = "Trường THCS Pom Lót"
    replies: ReplySettings = field(default_factory=ReplySettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    retention_days: int = 365
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    log_format: Literal["text", "json"] = "text"
    oauth: OAuthSettings | None = None
    scoped: bool = False
    source_file: str = "(defaults)"

    @property
    def replies_since(self) -> datetime | None:
        """No reply to mail that arrived before this (None: the first sync)."""
        return self.replies.since

    @property
    def trust(self) -> TrustPolicy:
        """Whose Authentication-Results header to believe (see ``core.trust``)."""
        return policy_for(self.trust_provider, self.receiving_server, self.trust_unauthenticated)

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL; by default a SQLite file in the store folder."""
        return self.database_url or f"sqlite:///{self.store_dir / 'mailbot.sqlite3'}"

    @property
    def maildir_path(self) -> Path:
        """The local Maildir used when no IMAP host is set."""
        return self.maildir or self.store_dir / "maildir"


_TOP_KEYS = (
    "mailbox",
    "receiving_server",
    "trust_provider",
    "trust_unauthenticated",
    "imap",
    "smtp",
    "store_dir",
    "rules_dir",
    "database_url",
    "maildir",
    "limits",
    "logging",
    "replies",
    "school_name",
    "schedule",
    "report",
    "privacy",
    "metrics",
    "mailboxes",
)
_SERVER_KEYS = ("host", "port", "security", "user", "password_file", "auth")
_S = TypeVar("_S", ImapSettings, SmtpSettings)
_IMAP_EXTRA = (
    "folder",
    "poll_seconds",
    "idle_seconds",
    "reconcile_seconds",
    "timeout_seconds",
    "batch_size",
    "parse_workers",
)


def load_settings(
    path: Path | None, env: Mapping[str, str] | None = None, mailbox: str | None = None
) -> Settings:
    """Read ``path`` (or ``./mailbot.yaml`` when it exists), then the environment.

    A config that lists ``mailboxes:`` yields the settings of the one named
    ``mailbox`` (default: the first): its keys over the file's shared ones.
    Raises :class:`ConfigError` naming the file, the key and what is expected.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    settings = Settings()
    chosen = config_path(path)
    if chosen is not None:
        settings = _from_file(chosen, problems, mailbox)
    settings = _from_env(settings, env, problems)
    _check(settings, problems)
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    return settings


def config_path(path: Path | None) -> Path | None:
    """The config file in use: ``path``, else ``./mailbot.yaml`` when it exists."""
    return path or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)


def mailbox_names(path: Path | None) -> list[str]:
    """The addresses a config's ``mailboxes:`` lists (empty for a one-mailbox config)."""
    chosen = config_path(path)
    if chosen is None or not chosen.is_file():
        return []
    problems: list[Problem] = []
    root = read_yaml(chosen, Reader(str(chosen), problems))
    if root is None or not isinstance(root.value, dict) or "mailboxes" not in root.value:
        return []
    entries = root.value["mailboxes"].value
    names = [e.value.get("mailbox") for e in entries if isinstance(e.value, dict)]
    return [str(n.value).lower() for n in names if n is not None]


def _select(reader: Reader, root: Node, mailbox: str | None) -> tuple[Node, bool]:
    """The file's shared keys overlaid with one ``mailboxes:`` entry; and whether it had any."""
    if not isinstance(root.value, dict) or "mailboxes" not in root.value:
        return root, False
    entries = reader.seq(root.value["mailboxes"], "mailboxes")
    shared = {k: v for k, v in root.value.items() if k != "mailboxes"}
    for entry in entries:
        keys = reader.mapping(entry, "a mailboxes entry", _TOP_KEYS, ("mailbox",))
        name = reader.text(keys.get("mailbox"), "mailbox").lower()
        if mailbox is None or name == mailbox.lower():
            return Node({**shared, **keys}, entry.line), True
    reader.problem(
        root, f"no mailbox {mailbox} in mailboxes:; expected one of the listed addresses"
    )
    return Node(shared, root.line), True


def _from_file(path: Path, problems: list[Problem], mailbox: str | None = None) -> Settings:
    reader = Reader(str(path), problems)
    if not path.is_file():
        reader.problem(0, "config file not found; pass --config PATH or create mailbot.yaml")
        return Settings()
    root = read_yaml(path, reader)
    if root is None:
        return Settings()
    root, scoped = _select(reader, root, mailbox)
    top = reader.mapping(root, "the config", _TOP_KEYS)
    base = Settings(source_file=str(path), scoped=scoped)
    return replace(
        base,
        mailbox=reader.text(top.get("mailbox"), "mailbox", base.mailbox).lower(),
        receiving_server=reader.text(
            top.get("receiving_server"), "receiving_server", base.receiving_server
        ).lower(),
        trust_provider=_provider(reader, top.get("trust_provider")),
        trust_unauthenticated=reader.flag(
            top.get("trust_unauthenticated"), "trust_unauthenticated", True
        ),
        imap=_imap(reader, top.get("imap"), path),
        smtp=_smtp(reader, top.get("smtp"), path),
        store_dir=_path(reader, top.get("store_dir"), "store_dir", base.store_dir),
        rules_dir=_path(reader, top.get("rules_dir"), "rules_dir", base.rules_dir),
        database_url=reader.text(top.get("database_url"), "database_url", ""),
        maildir=Path(reader.text(top["maildir"], "maildir")) if "maildir" in top else None,
        **_limits(reader, top.get("limits"), base),
        **_logging(reader, top.get("logging"), base),
        school_name=reader.text(top.get("school_name"), "school_name", base.school_name),
        replies=_replies(reader, top.get("replies")),
        schedule=_schedule(reader, top.get("schedule")),
        report=_report(reader, top.get("report")),
        retention_days=_retention(reader, top.get("privacy"), base.retention_days),
        **_metrics(reader, top.get("metrics")),
    )


def _provider(reader: Reader, node: Node | None) -> Provider:
    value = reader.choice(node, "trust_provider", PROVIDERS) if node is not None else None
    return next((p for p in PROVIDERS if p == value), "own-server")


def _path(reader: Reader, node: Node | None, where: str, default: Path) -> Path:
    return Path(reader.text(node, where)) if node is not None else default


def _server_common(reader: Reader, m: dict[str, Node], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "host" in m:
        out["host"] = reader.text(m["host"], f"{where}.host")
    if "port" in m:
        out["port"] = int(reader.number(m["port"], f"{where}.port", 0))
    if "security" in m:
        out["security"] = reader.choice(m["security"], f"{where}.security", SECURITY) or "ssl"
    if "user" in m:
        out["user"] = reader.text(m["user"], f"{where}.user")
    if "password_file" in m:
        out["password"] = _secret_file(reader, m["password_file"], f"{where}.password_file")
    if "auth" in m:
        value = reader.choice(m["auth"], f"{where}.auth", AUTHS)
        out["auth"] = next((a for a in AUTHS if a == value), "password")
    return out


def _secret_file(reader: Reader, node: Node, where: str) -> str:
    name = reader.text(node, where)
    try:
        return Path(name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        reader.problem(node, f"{where}: cannot read {name}: {exc.strerror}")
        return ""


def _imap(reader: Reader, node: Node | None, path: Path) -> ImapSettings:
    if node is None:
        return ImapSettings()
    m = _server_mapping(reader, node, "imap", (*_SERVER_KEYS, *_IMAP_EXTRA))
    values = _server_common(reader, m, "imap")
    d = ImapSettings()
    for key in _IMAP_EXTRA:
        if key == "folder" and key in m:
            values[key] = reader.text(m[key], "imap.folder")
        elif key in m:
            number = reader.number(m[key], f"imap.{key}", float(getattr(d, key) or 0))
            values[key] = int(number) if key in ("batch_size", "parse_workers") else number
            if key == "parse_workers" and number < 0:
                reader.problem(m[key], "imap.parse_workers must be 0 (parse in the daemon's own "
                               "process) or more")  # fmt: skip
    return replace(d, **values)


def _smtp(reader: Reader, node: Node | None, path: Path) -> SmtpSettings:
    if node is None:
        return SmtpSettings()
    m = _server_mapping(reader, node, "smtp", _SERVER_KEYS)
    return replace(SmtpSettings(), **_server_common(reader, m, "smtp"))


def _server_mapping(
    reader: Reader, node: Node, where: str, allowed: tuple[str, ...]
) -> dict[str, Node]:
    if isinstance(node.value, dict) and "password" in node.value:
        reader.problem(
            node.value["password"],
            f"{where}.password must not be written in the config file; set "
            f"MAILBOT_{where.upper()}_PASSWORD or {where}.password_file instead",
        )
        node = Node({k: v for k, v in node.value.items() if k != "password"}, node.line)
    return reader.mapping(node, where, allowed)


def _limits(reader: Reader, node: Node | None, base: Settings) -> dict[str, Any]:
    keys = ("max_message_bytes", "max_attachment_bytes", "max_attempts")
    m = reader.mapping(node, "limits", keys) if node is not None else {}
    return {k: int(reader.number(m.get(k), f"limits.{k}", getattr(base, k))) for k in keys}


def _logging(reader: Reader, node: Node | None, base: Settings) -> dict[str, Any]:
    m = reader.mapping(node, "logging", ("level", "file", "format")) if node is not None else {}
    levels = ("DEBUG", "INFO", "WARNING", "ERROR")
    level = reader.choice(m.get("level"), "logging.level", levels) if "level" in m else None
    file = Path(reader.text(m["file"], "logging.file")) if "file" in m else None
    fmt = (
        reader.choice(m.get("format"), "logging.format", ("text", "json"))
        if "format" in m
        else None
    )
    return {"log_level": level or base.log_level, "log_file": file, "log_format": fmt or "text"}


_REPLY_KEYS = ("since", "per_sender_per_hour", "per_day", "handler", "answer_days")
_SCHEDULE_KEYS = ("digest_time", "digest_when_empty", "reminder_day", "report_day", "report_time")


def _replies(reader: Reader, node: Node | None) -> ReplySettings:
    d = ReplySettings()
    if node is None:
        return d
    m = reader.mapping(node, "replies", _REPLY_KEYS)
    since = None
    if "since" in m:
        since = _iso(str(m["since"].value), lambda msg: reader.problem(m["since"], msg))
    return ReplySettings(
        since=since,
        per_sender_per_hour=_int(reader, m, "replies.per_sender_per_hour", d.per_sender_per_hour),
        per_day=_int(reader, m, "replies.per_day", d.per_day),
        handler=reader.text(m.get("handler"), "replies.handler", d.handler),
        answer_days=_int(reader, m, "replies.answer_days", d.answer_days),
    )


def _int(reader: Reader, m: dict[str, Node], where: str, default: int) -> int:
    return int(reader.number(m.get(where.rpartition(".")[2]), where, default))


def _schedule(reader: Reader, node: Node | None) -> ScheduleSettings:
    d = ScheduleSettings()
    if node is None:
        return d
    m = reader.mapping(node, "schedule", _SCHEDULE_KEYS)
    return ScheduleSettings(
        digest_time=_clock(reader, m.get("digest_time"), "schedule.digest_time", d.digest_time),
        digest_when_empty=reader.flag(
            m.get("digest_when_empty"), "schedule.digest_when_empty", d.digest_when_empty
        ),
        reminder_day=_day(reader, m.get("reminder_day"), "schedule.reminder_day", d.reminder_day),
        report_day=_day(reader, m.get("report_day"), "schedule.report_day", d.report_day),
        report_time=_clock(reader, m.get("report_time"), "schedule.report_time", d.report_time),
    )


_REPORT_TEXT = (
    "governing_body",
    "school_upper",
    "symbol",
    "place",
    "signer_title",
    "signer_name",
    "department_name",
)
_REPORT_KEYS = (
    *_REPORT_TEXT,
    "recipients",
    "period_start_day",
    "media_to",
    "media_count",
    "opinion_to",
    "max_forward_bytes",
)


def _report(reader: Reader, node: Node | None) -> ReportSettings:
    d = ReportSettings()
    if node is None:
        return d
    m = reader.mapping(node, "report", _REPORT_KEYS)
    text = {k: reader.text(m[k], f"report.{k}") for k in _REPORT_TEXT if k in m}
    recipients = tuple(
        reader.text(item, "report.recipients") for item in reader.seq(m.get("recipients"), "x")
    )
    return replace(
        d,
        **text,
        recipients=recipients or d.recipients,
        period_start_day=_day(
            reader, m.get("period_start_day"), "report.period_start_day", d.period_start_day
        ),
        media_to=reader.text(m.get("media_to"), "report.media_to", d.media_to).lower(),
        media_count=_int(reader, m, "report.media_count", d.media_count),
        opinion_to=reader.text(m.get("opinion_to"), "report.opinion_to", "").lower(),
        max_forward_bytes=_int(reader, m, "report.max_forward_bytes", d.max_forward_bytes),
    )


def _metrics(reader: Reader, node: Node | None) -> dict[str, Any]:
    m = reader.mapping(node, "metrics", ("host", "port")) if node is not None else {}
    out: dict[str, Any] = {}
    if "host" in m:
        out["metrics_host"] = reader.text(m["host"], "metrics.host")
    if "port" in m:
        out["metrics_port"] = _int(reader, m, "metrics.port", 0)
    return out


def _retention(reader: Reader, node: Node | None, default: int) -> int:
    m = reader.mapping(node, "privacy", ("retention_days",)) if node is not None else {}
    days = _int(reader, m, "privacy.retention_days", default)
    if days < 30:
        reader.problem(m.get("retention_days") or 0, "privacy.retention_days must be 30 or more")
        return default
    return days


def _clock(reader: Reader, node: Node | None, where: str, default: str) -> str:
    if node is None:
        return default
    value = reader.text(node, where)
    hh, _, mm = value.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
        reader.problem(node, f"{where} is '{value}'; expected a time such as 07:00")
        return default
    return f"{int(hh):02d}:{mm}"


def _day(reader: Reader, node: Node | None, where: str, default: int) -> int:
    day = int(reader.number(node, where, default))
    if node is not None and not 1 <= day <= 28:
        reader.problem(node, f"{where} is {day}; expected a day of the month from 1 to 28")
        return default
    return day


def _iso(value: str, report: Report) -> datetime | None:
    """An ISO date or date-time; without a zone it is Vietnam's local time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        report(f"replies.since is '{value}'; expected an ISO date such as 2026-03-01")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VN)


# --- environment -----------------------------------------------------------------


def _from_env(s: Settings, env: Mapping[str, str], problems: list[Problem]) -> Settings:
    def fail(message: str) -> None:
        problems.append(Problem("environment", 0, message))

    imap = _server_env(s.imap, "IMAP", env, fail)
    smtp = _server_env(s.smtp, "SMTP", env, fail)
    s = replace(s, imap=imap, smtp=smtp)
    if "MAILBOT_DATABASE_URL" in env:
        s = replace(s, database_url=env["MAILBOT_DATABASE_URL"])
    if "MAILBOT_STORE_DIR" in env:
        s = replace(s, store_dir=Path(env["MAILBOT_STORE_DIR"]))
    if "MAILBOT_RULES_DIR" in env:
        s = replace(s, rules_dir=Path(env["MAILBOT_RULES_DIR"]))
    if "MAILBOT_METRICS_PORT" in env:
        s = replace(
            s, metrics_port=_env_port(env["MAILBOT_METRICS_PORT"], "MAILBOT_METRICS_PORT", fail)
        )
    if "MAILBOT_MAILDIR" in env:
        s = replace(s, maildir=Path(env["MAILBOT_MAILDIR"]))
    try:
        s = replace(s, oauth=oauth_settings_from_env(env))
    except ConfigError as exc:
        fail(str(exc))
    if "MAILBOT_REPLIES_SINCE" in env:
        since = _iso(env["MAILBOT_REPLIES_SINCE"], fail)
        s = replace(s, replies=replace(s.replies, since=since))
    return s


def _server_env(server: _S, name: str, env: Mapping[str, str], fail: Report) -> _S:
    prefix = f"MAILBOT_{name}_"
    values: dict[str, Any] = {}
    for key in ("host", "user"):
        if prefix + key.upper() in env:
            values[key] = env[prefix + key.upper()]
    if prefix + "AUTH" in env:
        auth = env[prefix + "AUTH"].lower()
        if auth not in AUTHS:
            fail(f"{prefix}AUTH is '{auth}'; expected password or xoauth2")
        values["auth"] = next((a for a in AUTHS if a == auth), "password")
    if prefix + "PORT" in env:
        values["port"] = _env_port(env[prefix + "PORT"], prefix + "PORT", fail)
    if prefix + "SECURITY" in env:
        values["security"] = _env_security(env[prefix + "SECURITY"], prefix + "SECURITY", fail)
    password = _env_secret(env, prefix + "PASSWORD", fail)
    if password is not None:
        values["password"] = password
    return replace(server, **values)


def _env_port(value: str, key: str, fail: Report) -> int:
    if value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    fail(f"{key} is '{value}'; expected a port number from 1 to 65535")
    return 0


def _env_security(value: str, key: str, fail: Report) -> Security:
    for option in SECURITY:
        if value.lower() == option:
            return option
    fail(f"{key} is '{value}'; expected one of: ssl, starttls, none")
    return "ssl"


def _env_secret(env: Mapping[str, str], key: str, fail: Report) -> str | None:
    if key in env:
        return env[key]
    if key + "_FILE" in env:
        try:
            return Path(env[key + "_FILE"]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"{key}_FILE: cannot read {env[key + '_FILE']}: {exc.strerror}")
    return None


# --- cross-field checks ------------------------------------------------------------


def _check(s: Settings, problems: list[Problem]) -> None:
    _check_servers(s, problems)
    _check_oauth(s, problems)


def _check_oauth(s: Settings, problems: list[Problem]) -> None:
    for name, server in (("imap", s.imap), ("smtp", s.smtp)):
        if server.host and server.auth == "xoauth2" and s.oauth is None:
            problems.append(
                Problem(
                    s.source_file,
                    0,
                    f"{name}.auth is xoauth2 but MAILBOT_OAUTH_PROVIDER "
                    "is not set; see the README's OAuth section",
                )
            )
        if server.host and server.auth == "xoauth2" and not server.user:
            problems.append(
                Problem(s.source_file, 0, f"{name}.auth is xoauth2: {name}.user is needed")
            )


def _check_servers(s: Settings, problems: list[Problem]) -> None:
    for name, server in (("imap", s.imap), ("smtp", s.smtp)):
        if server.host and server.security == "none" and not is_loopback(server.host):
            problems.append(
                Problem(
                    s.source_file,
                    0,
                    f"{name}.security is none for {server.host}: plaintext is allowed only "
                    "to a loopback address; use ssl or starttls",
                )
            )
        if server.host and not 0 < server.port < 65536:
            problems.append(Problem(s.source_file, 0, f"{name}.port must be 1 to 65535"))
