"""The ``mailbot`` command line: a thin click layer over the app and the core.

Every command turns a :class:`~mailbot.errors.MailbotError` into one line on
stderr and the error's exit code; click's own usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import click

from mailbot import __version__
from mailbot.app.daemon import Daemon
from mailbot.app.demo import demo_settings, make_demo_maildir
from mailbot.app.doctor import diagnose
from mailbot.app.ingest import PassReport
from mailbot.app.jobs import Jobs, job_specs
from mailbot.app.metrics import render_metrics
from mailbot.app.outbox import DrainReport
from mailbot.app.purge import purge
from mailbot.app.supervisor import supervise
from mailbot.app.wiring import App, build, source_factory, token_provider
from mailbot.config import Settings, load_settings, mailbox_names
from mailbot.core.classify import classify
from mailbot.core.model import Classification, Mail, Unparseable
from mailbot.core.parse import parse_message
from mailbot.core.rules import RuleSet
from mailbot.core.schedule import next_run
from mailbot.core.trust import TrustPolicy
from mailbot.errors import MailbotError, RulesError
from mailbot.log import setup_logging
from mailbot.rules_file import load_rules, summary
from mailbot.shell.metrics import serve_metrics
from mailbot.shell.store import Store

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

RULES_OPTION = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of rule files (default: the config's rules_dir, else the project's rules/).",
)


@contextmanager
def _reported() -> Iterator[None]:
    """Print a MailbotError as the user should see it and exit with its code."""
    try:
        yield
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{len(exc.problems)} problem(s) found; nothing was loaded.", err=True)
        sys.exit(exc.exit_code)
    except MailbotError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailbot")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: ./mailbot.yaml when it exists, else the demo school's defaults).",
)
@click.option(
    "--mailbox",
    default=None,
    help="With a config that lists several mailboxes: which one (default: the first).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, mailbox: str | None) -> None:
    """mailbot files a school's shared mailbox by sender role and plan topic."""
    ctx.obj = (config_path, mailbox)


def _settings(ctx: click.Context) -> Settings:
    config_path, mailbox = ctx.find_root().obj
    settings = load_settings(config_path, mailbox=mailbox)
    setup_logging(settings.log_level, settings.log_file, settings.log_format)
    return settings


@cli.command("run")
@click.option("--once", is_flag=True, help="One pass over the mailbox, then exit.")
@click.pass_context
def run_cmd(ctx: click.Context, once: bool) -> None:
    """Watch the mailbox and file everything that arrives (the daemon).

    With --once: one pass over what is in the mailbox, then exit 0; exit 1
    with the reason when the mailbox cannot be reached or login fails. With a
    config that lists several mailboxes (and no --mailbox), one process runs
    per mailbox and this one supervises them.
    """
    config_path, mailbox = ctx.find_root().obj
    names = mailbox_names(config_path) if mailbox is None else []
    if len(names) > 1:
        sys.exit(supervise(config_path, names, once=once))
    with _reported():
        app = build(_settings(ctx))
        try:
            daemon = Daemon(app, progress=_progress_bar)
            if once:
                report = daemon.run_once()
                click.echo(_report_line(report))
                click.echo(_drain_line(daemon.last_drain))
            else:
                metrics = _start_metrics(app)
                try:
                    daemon.run_forever()
                finally:
                    if metrics is not None:
                        metrics.shutdown()
        finally:
            app.close()


def _progress_bar(total: int) -> Callable[[int], None]:
    """A progress bar on a terminal for a backlog; nothing otherwise."""
    if total < 20 or not sys.stderr.isatty():
        return lambda n: None
    bar = click.progressbar(length=total, label="filing", file=sys.stderr)
    bar.__enter__()

    def tick(n: int) -> None:
        bar.update(n)
        if bar.pos >= total:
            bar.__exit__(None, None, None)

    return tick


def _start_metrics(app: App) -> ThreadingHTTPServer | None:
    s = app.settings
    if not s.metrics_port:
        return None
    return serve_metrics(s.metrics_host, s.metrics_port, lambda: render_metrics(app))


def _drain_line(d: DrainReport | None) -> str:
    if d is None:
        return "outbox: not drained"
    stopped = f" (stopped: {d.stopped})" if d.stopped else ""
    return f"outbox: {d.sent} sent, {d.retried} to retry, {d.failed} failed{stopped}"


def _report_line(r: PassReport) -> str:
    return (
        f"{r.seen} messages seen: {r.filed} filed, {r.quarantined} quarantined, "
        f"{r.duplicates} duplicates, {r.failed} to retry"
    )


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Last sync, messages per kind, folder and state, quarantine and outbox queue."""
    with _reported():
        app = build(_settings(ctx))
        try:
            counts = app.store.counts()
            quarantined = app.store.quarantined()
        finally:
            app.close()
    data: dict[str, Any] = {
        "last_sync": counts.last_sync_at.isoformat() if counts.last_sync_at else None,
        "by_state": dict(counts.by_state),
        "by_kind": dict(counts.by_kind),
        "by_folder": dict(counts.by_folder),
        "outbox": dict(counts.outbox_by_state),
        "quarantined": len(quarantined),
    }
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True))
        return
    click.echo(f"last sync: {data['last_sync'] or 'never'}")
    for title in ("by_state", "by_kind", "by_folder", "outbox"):
        items = ", ".join(f"{k}: {v}" for k, v in sorted(data[title].items())) or "none"
        click.echo(f"{title.replace('_', ' ')}: {items}")
    click.echo(f"quarantined: {len(quarantined)}")


@cli.group("db")
def db_group() -> None:
    """The database: schema migrations."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending schema migration (also done at start-up)."""
    with _reported():
        settings = _settings(ctx)
        store = Store.open(settings.db_url)
        try:
            store.upgrade()
            click.echo(f"database at revision {store.current_revision()}")
        finally:
            store.close()


@cli.group("quarantine")
def quarantine_group() -> None:
    """Messages that could not be handled."""


@quarantine_group.command("list")
@click.pass_context
def quarantine_list(ctx: click.Context) -> None:
    """Show each quarantined message with its reason."""
    with _reported():
        app = build(_settings(ctx))
        try:
            records = app.store.quarantined()
        finally:
            app.close()
    if not records:
        click.echo("quarantine is empty")
    for r in records:
        click.echo(f"{r.id}\t{r.updated_at:%Y-%m-%d %H:%M}\t{r.subject or '-'}\t{r.last_error}")


@quarantine_group.command("retry")
@click.argument("record_id", type=int)
@click.pass_context
def quarantine_retry(ctx: click.Context, record_id: int) -> None:
    """Put quarantined message RECORD_ID through the pipeline again (after a rules fix)."""
    with _reported():
        app = build(_settings(ctx))
        try:
            source = source_factory(
                app.settings, app.rules.routing.quarantine, token_provider(app.settings)
            )()
            try:
                ok = app.ingest(source).retry(record_id)
            finally:
                source.close()
        finally:
            app.close()
    if not ok:
        click.echo(f"error: record {record_id} is not in quarantine or was not found", err=True)
        sys.exit(1)
    click.echo(f"record {record_id} filed again")


@cli.group()
def rules() -> None:
    """Check the rule files that IT edits."""


@rules.command("check")
@RULES_OPTION
@click.pass_context
def rules_check(ctx: click.Context, rules_dir: Path | None) -> None:
    """Validate every rule file; print a summary, or each problem with file and line.

    The folder is --rules, else the config's rules_dir (MAILBOT_RULES_DIR),
    else the project's rules/. Exit status: 0 when the rules are good, 2 when
    any file is wrong.
    """
    with _reported():
        directory = rules_dir or _settings(ctx).rules_dir
        ruleset = load_rules(directory)
    click.echo(f"{directory}: OK")
    click.echo(summary(ruleset))


@cli.command("classify")
@RULES_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def classify_cmd(
    ctx: click.Context, rules_dir: Path | None, as_json: bool, files: tuple[Path, ...]
) -> None:
    """Classify .eml FILES: role, group, kind, topics, urgency and the reasons.

    A file that cannot be read or is not a message gets an error line; the
    others are still classified, and the exit status is then 1.
    """
    with _reported():
        settings = _settings(ctx)
        ruleset = load_rules(rules_dir or settings.rules_dir)
        trust = settings.trust
    failed = False
    rows: list[dict[str, Any]] = []
    for path in files:
        result = _classify_file(path, ruleset, trust)
        if isinstance(result, str):
            click.echo(f"error: {path}: {result}", err=True)
            failed = True
            continue
        rows.append(_row(path, result))
        if as_json:
            click.echo(json.dumps(rows[-1], ensure_ascii=False))
    if not as_json and rows:
        click.echo(_table(rows))
    sys.exit(1 if failed else 0)


def _classify_file(path: Path, ruleset: RuleSet, trust: TrustPolicy) -> Classification | str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)
    mail = parse_message(raw)
    if isinstance(mail, Unparseable):
        return f"not a message: {mail.reason}"
    if not _looks_like_mail(mail):
        return "not a message: no From, Date, Subject or Message-ID header"
    return classify(mail, ruleset, trust)


def _looks_like_mail(mail: Mail) -> bool:
    names = {name for name, _ in mail.headers}
    return bool(names & {"from", "date", "subject", "message-id"})


def _row(path: Path, c: Classification) -> dict[str, Any]:
    return {
        "file": str(path),
        "role": c.role,
        "group": c.group,
        "kind": c.kind,
        "topics": list(c.topics),
        "urgent": c.urgent,
        "reasons": list(c.reasons),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("file", "role", "group", "kind", "topics", "urgent")
    cells = [
        (
            Path(r["file"]).name,
            r["role"],
            r["group"] or "-",
            r["kind"],
            ",".join(r["topics"]) or "-",
            "URGENT" if r["urgent"] else "",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mailbot")


@cli.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("store/demo"),
    show_default=True,
    help="Where the demo mailbox and its database are made (emptied first).",
)
def demo_cmd(directory: Path) -> None:
    """Make a demo Maildir from the shipped samples, file it once, show where each went."""
    with _reported():
        setup_logging("WARNING")
        settings = demo_settings(directory)
        count = make_demo_maildir(settings.maildir_path)
        app = build(settings)
        try:
            daemon = Daemon(app)
            report = daemon.run_once()
            rows = [app.store.record(i) for i in range(1, report.seen + 1)]
        finally:
            app.close()
    click.echo(f"demo mailbox: {settings.maildir_path} ({count} sample messages)")
    click.echo(_report_line(report))
    click.echo(f"{_drain_line(daemon.last_drain)}: written to {settings.store_dir / 'outbox'}")
    for r in sorted((r for r in rows if r), key=lambda r: (r.folder or "", r.id)):
        topic = ",".join(r.topics) or "-"
        urgent = " URGENT" if r.urgent else ""
        click.echo(
            f"  {r.folder or '-':24} {r.ref or '':15} {r.kind or '-':10} {r.role or '-':10} "
            f"{topic:4} {r.status or '':9}{urgent} {r.subject}"
        )


def _month(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month), or a usage error that says what is expected."""
    try:
        year, month = (int(x) for x in value.split("-"))
        if not (2000 <= year <= 2100 and 1 <= month <= 12) or len(value) != 7:
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a month; expected YYYY-MM, e.g. 2026-03"
        ) from None
    return year, month


MONTH_OPTION = click.option(
    "--month", "month", required=True, callback=_month, help="The month, as YYYY-MM (e.g. 2026-03)."
)


@cli.command("report")
@MONTH_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the .docx (default: store/reports/bao-cao-YYYY-MM.docx).",
)
@click.pass_context
def report_cmd(ctx: click.Context, month: tuple[int, int], out: Path | None) -> None:
    """Build the month's Word report (period: the 20th of the month before to the 19th)."""
    year, mon = month
    with _reported():
        app = build(_settings(ctx))
        try:
            _, path = Jobs(app).report(year, mon, out)
        finally:
            app.close()
    click.echo(f"report written to {path}")


@cli.command("forward")
@MONTH_OPTION
@click.option("--dry-run", is_flag=True, help="Only say how many articles would be sent.")
@click.pass_context
def forward_cmd(ctx: click.Context, month: tuple[int, int], dry_run: bool) -> None:
    """Send the month's approved articles to the department, one mail each, once."""
    year, mon = month
    with _reported():
        app = build(_settings(ctx))
        try:
            count = Jobs(app).forward(year, mon, dry_run=dry_run)
            drained = None if dry_run else app.send_queued()
        finally:
            app.close()
    verb = "would be forwarded" if dry_run else "forwarded"
    click.echo(f"{count} article(s) and media {verb} for {year:04d}-{mon:02d}")
    if drained is not None:
        click.echo(_drain_line(drained))


@cli.command("jobs")
@click.option("--run", "run_now", is_flag=True, help="Run the jobs that are due now.")
@click.pass_context
def jobs_cmd(ctx: click.Context, run_now: bool) -> None:
    """When each scheduled job last ran and when it runs next (Vietnam's time)."""
    with _reported():
        app = build(_settings(ctx))
        try:
            ran = Jobs(app).run_due() if run_now else []
            if ran:
                app.send_queued()
            runs = {app.unscoped(r.job): r for r in app.store.last_runs() if app.owns_job(r.job)}
            now = app.clock.now()
            specs = job_specs(app)
        finally:
            app.close()
    for name in ran:
        click.echo(f"ran {name}")
    for spec in specs:
        last = runs.get(spec.name)
        done = f"{last.period} {last.state}" if last else "never"
        click.echo(f"{spec.name:15} last: {done:22} next: {next_run(spec, now):%Y-%m-%d %H:%M}")


@cli.command("doctor")
@click.pass_context
def doctor_cmd(ctx: click.Context) -> None:
    """Check config, rules, templates, the store, the mailbox and SMTP; say how to fix.

    Exit status: 0 when everything works, 1 when a check failed, 78 when the
    config itself is wrong.
    """
    with _reported():
        settings = _settings(ctx)
    click.echo(f"config: {settings.source_file}")
    findings = diagnose(settings)
    for f in findings:
        click.echo(f"{'ok  ' if f.ok else 'FAIL'}  {f.name:10} {f.detail}")
        if f.fix:
            click.echo(f"      {'':10} fix: {f.fix}")
    sys.exit(0 if all(f.ok for f in findings) else 1)


@cli.command("purge")
@click.option("--address", default=None, help="Erase everything from this address now (a request).")
@click.option("--dry-run", is_flag=True, help="Only count what would be erased.")
@click.pass_context
def purge_cmd(ctx: click.Context, address: str | None, dry_run: bool) -> None:
    """Erase personal data: records older than privacy.retention_days, or from --address.

    The raw mail and attachments are deleted; the record keeps only what the
    monthly counts need (kind, topic, group, status, reference, date).
    """
    with _reported():
        app = build(_settings(ctx))
        try:
            report = purge(app, address=address, dry_run=dry_run)
        finally:
            app.close()
    verb = "would be erased" if dry_run else "erased"
    click.echo(f"{report.records} record(s) {verb}; {report.files} file(s) deleted")
