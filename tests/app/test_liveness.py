"""One alert when the mailbox stays unreachable, one mail when it works again."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mailbot.app.demo import demo_settings
from mailbot.app.liveness import Liveness
from mailbot.app.wiring import App, build
from mailbot.core.schedule import VN
from mailbot.shell.clock import FixedClock
from tests.app.helpers import with_test_database

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=VN)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = with_test_database(demo_settings(tmp_path / "demo"))
    application = build(settings, clock=FixedClock(T0))
    yield application
    application.close()


def _sent(app: App) -> list[str]:
    outbox = app.settings.store_dir / "outbox"
    subjects = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects.append(str(msg["Subject"]))
    return subjects


def test_one_alert_per_outage_and_one_recovery(app: App) -> None:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    watch = Liveness(app)
    watch.failed("login failed: AUTHENTICATIONFAILED")
    assert _sent(app) == []  # a short outage alerts nobody
    for minutes in (16, 20, 60):
        clock.at = T0 + timedelta(minutes=minutes)
        watch.failed("login failed: AUTHENTICATIONFAILED")
    restarted = Liveness(app)  # a restart in the middle of the outage
    clock.at = T0 + timedelta(minutes=90)
    restarted.failed("login failed: AUTHENTICATIONFAILED")
    [down] = _sent(app)
    assert "không truy cập được hộp thư" in down
    restarted.succeeded()
    restarted.succeeded()
    assert len(_sent(app)) == 2
    assert any("đã truy cập lại" in s for s in _sent(app))


def test_alert_names_the_error_and_goes_to_it_and_leadership(app: App) -> None:
    clock = app.clock
    assert isinstance(clock, FixedClock)
    watch = Liveness(app)
    watch.failed("token expired")
    clock.at = T0 + timedelta(minutes=30)
    watch.failed("token expired")
    [path] = (app.settings.store_dir / "outbox").glob("*.eml")
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert set(str(msg["To"]).split(", ")) == {
        "hieutruong@thcspomlot.edu.vn",
        "thanglv@thcspomlot.edu.vn",
        "minhqv@thcspomlot.edu.vn",
    }
    body = msg.get_body(("plain",))
    assert body is not None and "token expired" in body.get_content()
