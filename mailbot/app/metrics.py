"""The figures the Prometheus endpoint shows, read from the store at each scrape."""

from __future__ import annotations

from mailbot.app.wiring import App

__all__ = ["render_metrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def render_metrics(app: App) -> str:
    """Messages by state, kind and folder; the outbox; the last sync; job runs."""
    counts = app.store.counts()
    synced = counts.last_sync_at.timestamp() if counts.last_sync_at else 0
    lines = [
        "# HELP mailbot_messages Messages in the ledger, by state.",
        "# TYPE mailbot_messages gauge",
        *(
            f'mailbot_messages{{state="{_label(k)}"}} {v}'
            for k, v in sorted(counts.by_state.items())
        ),
        "# HELP mailbot_messages_by_kind Filed messages, by kind.",
        "# TYPE mailbot_messages_by_kind gauge",
        *(
            f'mailbot_messages_by_kind{{kind="{_label(k)}"}} {v}'
            for k, v in sorted(counts.by_kind.items())
        ),
        "# HELP mailbot_outbox Outgoing mail, by state (failed: refused for good).",
        "# TYPE mailbot_outbox gauge",
        *(
            f'mailbot_outbox{{state="{_label(k)}"}} {v}'
            for k, v in sorted(counts.outbox_by_state.items())
        ),
        "# HELP mailbot_last_sync_timestamp_seconds When the mailbox was last synced.",
        "# TYPE mailbot_last_sync_timestamp_seconds gauge",
        f"mailbot_last_sync_timestamp_seconds {synced:.0f}",
        "# HELP mailbot_job_runs Runs of scheduled jobs, by job and outcome.",
        "# TYPE mailbot_job_runs gauge",
    ]
    runs: dict[tuple[str, str], int] = {}
    for run in app.store.all_runs():
        runs[(run.job, run.state)] = runs.get((run.job, run.state), 0) + 1
    lines += [
        f'mailbot_job_runs{{job="{_label(j)}",state="{_label(s)}"}} {n}'
        for (j, s), n in sorted(runs.items())
    ]
    return "\n".join(lines) + "\n"
