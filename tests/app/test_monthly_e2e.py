"""The 19th end to end: a month of mail through Dovecot, approvals by reply, the test
clock reaching the 19th, one mail per approved article at the SMTP server, nothing
again after a restart, and catch-up after downtime over the 19th."""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from docx import Document

from mailbot.app.daemon import Daemon
from mailbot.app.jobs import Jobs
from mailbot.app.wiring import App, build
from mailbot.config import ReplySettings, SmtpSettings
from mailbot.core.schedule import VN
from mailbot.shell.clock import FixedClock
from tests.app.helpers import settings_for
from tests.corpus import corpus_dir
from tests.dovecot import Dovecot
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.imap

DEPT = "sogddt@dienbien.edu.vn"


def _parsed(content: bytes) -> EmailMessage:
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=VN))


def _app(dovecot: Dovecot, smtpd: SmtpServer, store: Path, clock: FixedClock) -> App:
    settings = settings_for(dovecot, store)
    settings = replace(
        settings,
        smtp=SmtpSettings(host=smtpd.host, port=smtpd.port, security="none"),
        replies=ReplySettings(since=datetime(2026, 1, 1, tzinfo=VN)),
    )
    return build(settings, clock=clock)


@pytest.fixture
def app(dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path, clock: FixedClock) -> Iterator[App]:
    application = _app(dovecot, smtpd, tmp_path / "store", clock)
    yield application
    application.close()


def _deliver(dovecot: Dovecot, *names: str) -> None:
    for name in names:
        raw = (corpus_dir() / name).read_bytes()
        date = email.utils.parsedate_to_datetime(str(_parsed(raw)["Date"]))
        dovecot.append("INBOX", raw, msg_time=date)


def _command(dovecot: Dovecot, text: str, n: int) -> None:
    msg = EmailMessage()
    msg["Authentication-Results"] = "mx.thcspomlot.edu.vn; dmarc=pass header.from=thcspomlot.edu.vn"
    msg["From"] = "Trần Thị Bích Nga <hieutruong@thcspomlot.edu.vn>"
    msg["To"] = "truyenthong@thcspomlot.edu.vn"
    msg["Subject"] = "Re: Bản tin hộp thư truyền thông"
    msg["Date"] = email.utils.format_datetime(datetime(2026, 3, 17, 8, n, tzinfo=VN))
    msg["Message-ID"] = f"<cmd{n}@thcspomlot.edu.vn>"
    msg.set_content(text)
    dovecot.append("INBOX", bytes(msg))


def _ref_of(app: App, corpus_name: str) -> str:
    mid = str(_parsed((corpus_dir() / corpus_name).read_bytes())["Message-ID"]).strip()
    [record] = [r for r in app.store.find_by_message_id(mid) if r.ref]
    assert record.ref
    return record.ref


def _to(smtpd: SmtpServer, address: str) -> list[EmailMessage]:
    return [_parsed(g.content) for g in smtpd.received if address in g.rcpt_tos]


def test_the_19th(dovecot: Dovecot, smtpd: SmtpServer, app: App, clock: FixedClock) -> None:
    # March: four articles, two media, feedback; the principal approves by reply.
    _deliver(
        dovecot,
        "d029.eml",
        "d033.eml",
        "d034.eml",
        "d035.eml",
        "d036.eml",
        "d038.eml",
        "d040.eml",
        "d041.eml",
        "d044.eml",
    )
    Daemon(app).run_once()
    approve = [_ref_of(app, n) for n in ("d033.eml", "d044.eml")]
    handled = _ref_of(app, "d034.eml")
    _command(
        dovecot,
        "\n".join(f"DUYỆT {r}" for r in approve)
        + f"\nĐÃ XỬ LÝ {handled}: đã làm việc với bếp ăn và trạm y tế xã",
        1,
    )
    Daemon(app).run_once()
    statuses = {r.ref: r.status for r in app.store.records()}
    assert statuses[_ref_of(app, "d035.eml")] == "approved"  # d036: "Duyệt" in the thread
    assert statuses[_ref_of(app, "d040.eml")] == "rejected"  # d041: rejection in the thread
    assert all(statuses[r] == "approved" for r in approve)
    before = len(smtpd.received)

    clock.at = datetime(2026, 3, 19, 8, 5, tzinfo=VN)
    ran = Jobs(app).run_due()
    assert "monthly-report/2026-03" in ran
    app.send_queued()
    forwards = _to(smtpd, DEPT)
    assert len(forwards) == 3  # d033, d035, d044: one mail per approved article
    subjects = sorted(str(m["Subject"]) for m in forwards)
    assert all(s.startswith("[Trường THCS Pom Lót] ") for s in subjects)
    assert len(set(subjects)) == 3
    for mail in forwards:
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["From"].addresses[0].addr_spec == "truyenthong@thcspomlot.edu.vn"
        assert mail["Reply-To"] is not None
    docx_forwards = [m for m in forwards if any(p.get_filename() for p in m.iter_attachments())]
    assert docx_forwards, "a .docx article travels with its file"
    [media] = _to(smtpd, "cntt.sogddt@dienbien.edu.vn")
    assert len(list(media.iter_attachments())) >= 1
    [report] = [
        m
        for m in _to(smtpd, "hieutruong@thcspomlot.edu.vn")
        if str(m["Subject"]).startswith("Báo cáo kết quả")
    ]
    [docx] = [p for p in report.iter_attachments() if str(p.get_filename()).endswith(".docx")]
    path = app.settings.store_dir / "check.docx"
    path.write_bytes(docx.get_content())
    text = "\n".join(p.text for p in Document(str(path)).paragraphs)
    assert "Kết quả thông tin, tuyên truyền về giáo dục và đào tạo tháng 3 năm 2026" in text
    assert "đã làm việc với bếp ăn và trạm y tế xã" in text + "".join(
        c.text for t in Document(str(path)).tables for row in t.rows for c in row.cells
    )
    sent = len(smtpd.received)
    assert sent > before

    # The same day again, and after a restart: nothing is sent twice.
    assert Jobs(app).run_due() == []
    app.send_queued()
    restarted = _app(dovecot, smtpd, app.settings.store_dir, clock)
    try:
        assert Jobs(restarted).run_due() == []
        assert Jobs(restarted).forward(2026, 3) == 0
        restarted.send_queued()
    finally:
        restarted.close()
    assert len(smtpd.received) == sent
    assert sorted(smtpd.by_message_id().values())[-1] == 1


def test_catch_up_after_downtime_over_the_19th(
    dovecot: Dovecot, smtpd: SmtpServer, app: App, clock: FixedClock
) -> None:
    _deliver(dovecot, "d044.eml")
    Daemon(app).run_once()
    _command(dovecot, f"DUYỆT {_ref_of(app, 'd044.eml')}", 2)
    Daemon(app).run_once()
    clock.at = datetime(2026, 3, 23, 10, 0, tzinfo=VN)  # down from the 18th to the 23rd
    assert "monthly-report/2026-03" in Jobs(app).run_due()
    app.send_queued()
    assert len(_to(smtpd, DEPT)) == 1
    assert Jobs(app).run_due() == []
