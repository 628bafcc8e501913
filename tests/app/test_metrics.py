"""The Prometheus endpoint serves fresh figures from the store."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.app.daemon import Daemon
from mailbot.app.demo import demo_settings, make_demo_maildir
from mailbot.app.metrics import render_metrics
from mailbot.app.wiring import App, build
from mailbot.shell.metrics import serve_metrics
from tests.app.helpers import with_test_database


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = with_test_database(demo_settings(tmp_path / "demo"))
    make_demo_maildir(settings.maildir_path)
    application = build(settings)
    yield application
    application.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_endpoint(app: App) -> None:
    port = _free_port()
    server = serve_metrics("127.0.0.1", port, lambda: render_metrics(app))
    try:
        url = f"http://127.0.0.1:{port}"
        before = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
        assert "mailbot_last_sync_timestamp_seconds 0" in before
        Daemon(app).run_once()
        after = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
        assert 'mailbot_messages{state="moved"} 10' in after
        assert 'mailbot_messages_by_kind{kind="feedback"} 2' in after
        assert 'mailbot_outbox{state="sent"}' in after
        assert urllib.request.urlopen(f"{url}/healthz", timeout=5).read() == b"ok\n"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{url}/other", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
