"""Replies end to end: real Dovecot, real SMTP (aiosmtpd), the real command line."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import signal
import subprocess
import sys
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.app.helpers import ROOT, env_for, mailbot
from tests.corpus import corpus_dir, labels
from tests.dovecot import Dovecot
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.imap

REPLIED_KINDS = {"submission", "media", "feedback", "approval"}


def _env(dovecot: Dovecot, smtpd: SmtpServer, store: Path, **extra: str) -> dict[str, str]:
    return env_for(dovecot, store) | {
        "MAILBOT_SMTP_HOST": smtpd.host,
        "MAILBOT_SMTP_PORT": str(smtpd.port),
        "MAILBOT_SMTP_SECURITY": "none",
        "MAILBOT_REPLIES_SINCE": "2026-01-01",
        **extra,
    }


def _parsed(content: bytes) -> EmailMessage:
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _append_corpus(dovecot: Dovecot) -> dict[str, str]:
    """Append every corpus message with its Date as arrival time; return Message-ID → file."""
    ids = {}
    for path in sorted(corpus_dir().glob("d*.eml")):
        raw = path.read_bytes()
        msg = _parsed(raw)
        date = email.utils.parsedate_to_datetime(str(msg["Date"]))
        dovecot.append("INBOX", raw, msg_time=date)
        ids[str(msg["Message-ID"]).strip()] = path.name
    return ids


def test_corpus_gets_one_threaded_reply_per_content_message_and_none_else(
    dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path
) -> None:
    """One receipt per submission, media and feedback, one answer per verified approval,
    nothing to automatic mail, directives or spoofs; a second run sends nothing."""
    ids = _append_corpus(dovecot)
    env = _env(dovecot, smtpd, tmp_path / "store")
    first = mailbot(env, "run", "--once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    replies = Counter()
    for got in smtpd.received:
        msg = _parsed(got.content)
        assert got.mail_from == "<>"
        assert msg["Auto-Submitted"] in ("auto-replied", "auto-generated")
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert str(msg["Message-ID"]).endswith("@thcspomlot.edu.vn>")
        parent = str(msg.get("In-Reply-To", "")).strip()
        if parent:
            assert msg["Auto-Submitted"] == "auto-replied"
            assert parent in str(msg["References"])
            assert msg["Subject"].startswith("Re:")
            replies[ids[parent]] += 1
    expected = {name for name, lab in labels().items() if lab["kind"] in REPLIED_KINDS}
    assert set(replies) == expected, first.stdout + first.stderr[-4000:]
    assert all(n == 1 for n in replies.values()), replies
    for name in expected - {n for n, lab in labels().items() if lab["kind"] == "approval"}:
        reply = next(
            _parsed(g.content)
            for g in smtpd.received
            if ids.get(str(_parsed(g.content).get("In-Reply-To", "")).strip()) == name
        )
        assert str(reply["Subject"]).rstrip("]").rsplit("[", 1)[1][:3] in ("TB-", "PH-")
    before = len(smtpd.received)
    second = mailbot(env, "run", "--once", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(smtpd.received) == before


def _mail(
    sender: str, subject: str, body: str, *, mid: str, dmarc: str = "pass", **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["Authentication-Results"] = (
        f"mx.thcspomlot.edu.vn; dmarc={dmarc} header.from={sender.rpartition('@')[2]}"
    )
    msg["From"] = sender
    msg["To"] = "truyenthong@thcspomlot.edu.vn"
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(email.utils.localtime())
    msg["Message-ID"] = mid
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return bytes(msg)


def _ack_for(smtpd: SmtpServer, mid: str) -> EmailMessage:
    [ack] = [
        _parsed(g.content)
        for g in smtpd.received
        if str(_parsed(g.content).get("In-Reply-To", "")).strip() == mid
    ]
    return ack


def test_out_of_office_answering_a_receipt_gets_nothing_back(
    dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path
) -> None:
    env = _env(dovecot, smtpd, tmp_path / "store")
    dovecot.append(
        "INBOX",
        _mail(
            "hoant@thcspomlot.edu.vn",
            "Tin bài: Ngày hội đọc sách",
            "Tổ KHTN gửi bài tin về ngày hội đọc sách của nhà trường.",
            mid="<a1@thcspomlot.edu.vn>",
        ),
    )
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    ack = _ack_for(smtpd, "<a1@thcspomlot.edu.vn>")
    ooo = _mail(
        "hoant@thcspomlot.edu.vn",
        f"Trả lời tự động: {ack['Subject']}",
        "Tôi đang đi tập huấn đến hết tuần.",
        mid="<ooo1@thcspomlot.edu.vn>",
        Auto_Submitted="auto-replied",
        In_Reply_To=str(ack["Message-ID"]),
    )
    dovecot.append("INBOX", ooo)
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    assert len(smtpd.received) == 1


def test_a_robot_ignoring_every_header_is_stopped_within_three(
    dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path
) -> None:
    """RELIABILITY case 5: a ticket system that answers every receipt."""
    env = _env(dovecot, smtpd, tmp_path / "store")
    for n in range(6):
        dovecot.append(
            "INBOX",
            _mail(
                "helpdesk@robot.example",
                f"Re: Ticket {n}",
                "Phụ huynh hỏi: Chúng tôi đã nhận yêu cầu của bạn?",
                mid=f"<r{n}@robot.example>",
            ),
        )
        assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    to_robot = [g for g in smtpd.received if "helpdesk@robot.example" in g.rcpt_tos]
    assert len(to_robot) == 3


def test_approval_by_reply_and_a_spoofed_one(
    dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path
) -> None:
    env = _env(dovecot, smtpd, tmp_path / "store")
    dovecot.append(
        "INBOX",
        _mail(
            "ngocbt@thcspomlot.edu.vn",
            "Tin bài Chi đoàn: Ngày hội hiến máu",
            "Chi đoàn gửi bài tin về ngày hội hiến máu tình nguyện.",
            mid="<art@thcspomlot.edu.vn>",
        ),
    )
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    ack = _ack_for(smtpd, "<art@thcspomlot.edu.vn>")
    ref = str(ack["Subject"]).rsplit("[", 1)[1].rstrip("]")
    spoof = _mail(
        "hieutruong@thcspomlot.edu.vn",
        "duyet",
        f"DUYỆT {ref}",
        mid="<s1@evil.example>",
        dmarc="fail",
    )
    real = _mail(
        "hieutruong@thcspomlot.edu.vn",
        "Re: Bản tin",
        f"KHÔNG DUYỆT {ref}: đề nghị bổ sung ảnh\nDUYỆT TB-2026-01-999",
        mid="<p1@thcspomlot.edu.vn>",
    )
    dovecot.append("INBOX", spoof)
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    assert len(smtpd.received) == 1, "a spoofed command gets no answer"
    dovecot.append("INBOX", real)
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    answer = _ack_for(smtpd, "<p1@thcspomlot.edu.vn>")
    text = answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Không duyệt {ref}" in text and "Không tìm thấy số TB-2026-01-999" in text
    [notice] = [g for g in smtpd.received if g.rcpt_tos == ("ngocbt@thcspomlot.edu.vn",)][1:]
    body = _parsed(notice.content).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "chưa duyệt" in body and "đề nghị bổ sung ảnh" in body
    status = json.loads(mailbot(env, "status", "--json", cwd=tmp_path).stdout)
    assert status["outbox"] == {"sent": 3}


def test_smtp_down_then_up_sends_each_mail_once(
    dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path
) -> None:
    env = _env(dovecot, smtpd, tmp_path / "store")
    for n in range(3):
        dovecot.append(
            "INBOX",
            _mail(
                f"ph{n}@gmail.com",
                "Góp ý về bữa ăn bán trú",
                "Tôi là phụ huynh, xin góp ý về bữa ăn của các cháu?",
                mid=f"<f{n}@gmail.com>",
            ),
        )
    smtpd.stop()
    down = mailbot(env, "run", "--once", cwd=tmp_path)
    assert down.returncode == 0 and "stopped" in down.stdout
    smtpd.start()
    up = mailbot(env, "run", "--once", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert sorted(smtpd.by_message_id().values()) == [1, 1, 1], down.stderr + up.stderr


def test_crash_between_deciding_and_sending_sends_once(
    dovecot: Dovecot, smtpd: SmtpServer, tmp_path: Path
) -> None:
    """SIGKILL after the decision is committed, before the outbox is drained."""
    env = _env(dovecot, smtpd, tmp_path / "store") | {"PYTHONPATH": str(ROOT)}
    dovecot.append(
        "INBOX",
        _mail(
            "xuanlt1985@gmail.com",
            "Hỏi về học phí",
            "Xin hỏi nhà trường về các khoản thu?",
            mid="<h1@gmail.com>",
        ),
    )
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.app.crash_runner", "file", "1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert smtpd.received == []
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    assert mailbot(env, "run", "--once", cwd=tmp_path).returncode == 0
    assert list(smtpd.by_message_id().values()) == [1]
