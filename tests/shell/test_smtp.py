"""SmtpSender against a real aiosmtpd server, and FileSender on disk."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest

from mailbot.shell.smtp import FileSender, PermanentSendError, SmtpSender, TemporarySendError
from tests.smtpd import PASSWORD, USER, SmtpServer

TO = ["lan@thcspomlot.edu.vn"]


def raw_mail(message_id: str = "<ack-1@thcspomlot.edu.vn>", body: str = "Đã nhận.") -> bytes:
    return (
        "From: Truyền thông <truyenthong@thcspomlot.edu.vn>\r\n"
        "To: lan@thcspomlot.edu.vn\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: =?utf-8?q?=C4=90=C3=A3_nh=E1=BA=ADn?=\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n.starts with a dot\r\n"
    ).encode()


def plain(server: SmtpServer, user: str = "", password: str = "") -> SmtpSender:
    return SmtpSender(server.host, server.port, "none", user, password, local_hostname="bot.test")


# -- plain SMTP ------------------------------------------------------------------


def test_send_delivers_bytes_unchanged_with_null_reverse_path(smtpd: SmtpServer) -> None:
    """``envelope_from=""`` goes out as ``MAIL FROM:<>`` (RFC 5321 4.5.5, RFC 3834 3.3)."""
    plain(smtpd).send(raw_mail(), envelope_from="", recipients=[*TO, "b@x.example"])
    [got] = smtpd.received
    assert got.mail_from == "<>"
    assert got.rcpt_tos == (*TO, "b@x.example")
    assert got.content == raw_mail()  # dot-stuffing undone, 8-bit body intact
    assert not got.authenticated and not got.tls


def test_send_with_a_bounce_address(smtpd: SmtpServer) -> None:
    plain(smtpd).send(raw_mail(), envelope_from="bounces@thcspomlot.edu.vn", recipients=TO)
    assert smtpd.received[0].mail_from == "bounces@thcspomlot.edu.vn"


def test_auth_when_user_is_set(smtpd: SmtpServer) -> None:
    smtpd.require_auth = True
    plain(smtpd, user=USER, password=PASSWORD).send(raw_mail(), envelope_from="", recipients=TO)
    assert smtpd.received[0].authenticated


def test_wrong_password_is_unreachable_and_never_shown(smtpd: SmtpServer) -> None:
    """A rejected AUTH is no fault of the message: temporary, stop the round; no password."""
    sender = plain(smtpd, user=USER, password="wrong-horse-battery")
    with pytest.raises(TemporarySendError) as caught:
        sender.send(raw_mail(), envelope_from="", recipients=TO)
    assert caught.value.unreachable
    assert "535" in str(caught.value)
    assert "wrong-horse-battery" not in str(caught.value) + repr(sender)
    assert caught.value.__cause__ is None


def test_refused_mail_from_is_unreachable_not_permanent(smtpd: SmtpServer) -> None:
    """530 to MAIL (no user configured): every message would fail alike, so stop the round
    and keep the mail rather than fail the whole outbox for good."""
    smtpd.require_auth = True
    with pytest.raises(TemporarySendError, match="530") as caught:
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=TO)
    assert caught.value.unreachable


def test_4xx_on_data_is_temporary(smtpd: SmtpServer) -> None:
    smtpd.fail_next("DATA", "451 4.3.0 try again later")
    with pytest.raises(TemporarySendError, match="451") as caught:
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=TO)
    assert not caught.value.unreachable
    assert smtpd.received == []


def test_5xx_on_data_is_permanent(smtpd: SmtpServer) -> None:
    smtpd.fail_next("DATA", "554 5.6.0 message rejected")
    with pytest.raises(PermanentSendError, match=r"554 5\.6\.0 message rejected"):
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=TO)


def test_all_recipients_refused_5xx_is_permanent(smtpd: SmtpServer) -> None:
    smtpd.fail_next("RCPT", "550 5.1.1 no such user", times=2)
    with pytest.raises(PermanentSendError, match="all 2 recipients refused"):
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=[*TO, "b@x.example"])


def test_recipients_refused_with_a_4xx_is_temporary(smtpd: SmtpServer) -> None:
    smtpd.fail_next("RCPT", "550 5.1.1 no such user")
    smtpd.fail_next("RCPT", "450 4.2.0 greylisted")
    with pytest.raises(TemporarySendError, match="450"):
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=[*TO, "b@x.example"])


def test_some_recipients_refused_counts_as_sent_and_warns(
    smtpd: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtpd.fail_next("RCPT", "550 5.1.1 no such user")
    with caplog.at_level(logging.WARNING, logger="mailbot"):
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=["gone@x.example", *TO])
    [got] = smtpd.received
    assert got.rcpt_tos == tuple(TO)
    assert "1 recipient(s) refused (550)" in caplog.text
    assert "gone@x.example" not in caplog.text  # addresses at DEBUG only


def test_server_down_is_unreachable(smtpd: SmtpServer) -> None:
    smtpd.stop()
    with pytest.raises(TemporarySendError, match="refused") as caught:
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=TO)
    assert caught.value.unreachable


def test_no_recipients_is_permanent(smtpd: SmtpServer) -> None:
    with pytest.raises(PermanentSendError):
        plain(smtpd).send(raw_mail(), envelope_from="", recipients=[])


def test_non_ascii_address_uses_smtputf8(smtpd: SmtpServer) -> None:
    """RFC 6531: aiosmtpd offers SMTPUTF8, so an internationalised address goes through."""
    plain(smtpd).send(raw_mail(), envelope_from="", recipients=["cô.lan@trường.vn"])
    assert smtpd.received[0].rcpt_tos == ("cô.lan@trường.vn",)


# -- TLS -------------------------------------------------------------------------


def tls_sender(server: SmtpServer, security: str, context: ssl.SSLContext | None) -> SmtpSender:
    port = server.ssl_port if security == "ssl" else server.port
    return SmtpSender(
        server.host,
        port,
        "ssl" if security == "ssl" else "starttls",
        USER,
        PASSWORD,
        ssl_context=context,
        local_hostname="bot.test",
        timeout=5,
    )


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_verified_against_the_test_ca(smtpd_tls: SmtpServer, security: str) -> None:
    """Implicit TLS (RFC 8314) and STARTTLS (RFC 3207), certificate checked; AUTH inside."""
    sender = tls_sender(smtpd_tls, security, smtpd_tls.client_context())
    sender.send(raw_mail(), envelope_from="", recipients=TO)
    [got] = smtpd_tls.received
    assert got.tls and got.authenticated


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_refused_with_the_default_context(smtpd_tls: SmtpServer, security: str) -> None:
    """The system CAs do not know the test CA: no session, nothing sent."""
    with pytest.raises(TemporarySendError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        tls_sender(smtpd_tls, security, None).send(raw_mail(), envelope_from="", recipients=TO)
    assert caught.value.unreachable
    assert smtpd_tls.received == []


def test_starttls_not_offered_is_refused(smtpd: SmtpServer) -> None:
    """Without STARTTLS on offer the sender stops rather than send in clear (RFC 3207)."""
    sender = SmtpSender(smtpd.host, smtpd.port, "starttls", USER, PASSWORD, timeout=5)
    with pytest.raises(TemporarySendError, match="STARTTLS") as caught:
        sender.send(raw_mail(), envelope_from="", recipients=TO)
    assert caught.value.unreachable
    assert smtpd.received == []


# -- FileSender ------------------------------------------------------------------


def test_file_sender_writes_one_file_per_message_id(tmp_path: Path) -> None:
    sender = FileSender(tmp_path / "outbox")
    sender.send(raw_mail("<a@x>"), envelope_from="", recipients=TO)
    sender.send(raw_mail("<b@x>"), envelope_from="", recipients=TO)
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == sorted(
        sender.path_for(raw_mail(m)).name for m in ("<a@x>", "<b@x>")
    )
    assert all(len(f.stem) == 16 and f.suffix == ".eml" for f in files)
    assert sender.path_for(raw_mail("<a@x>")).read_bytes() == raw_mail("<a@x>")


def test_file_sender_is_idempotent_per_message_id(tmp_path: Path) -> None:
    """Resending (same Message-ID) replaces the file; no temporary files are left."""
    sender = FileSender(tmp_path)
    sender.send(raw_mail(body="first"), envelope_from="", recipients=TO)
    sender.send(raw_mail(body="second"), envelope_from="", recipients=TO)
    [only] = list(tmp_path.iterdir())
    assert b"second" in only.read_bytes()


def test_file_sender_without_message_id_names_by_content(tmp_path: Path) -> None:
    sender = FileSender(tmp_path)
    for body in (b"Subject: a\r\n\r\none\r\n", b"Subject: a\r\n\r\ntwo\r\n"):
        sender.send(body, envelope_from="", recipients=TO)
    assert len(list(tmp_path.iterdir())) == 2


def test_file_sender_disk_failure_is_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(TemporarySendError, match="cannot write"):
        FileSender(blocker).send(raw_mail(), envelope_from="", recipients=TO)
