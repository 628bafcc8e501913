"""``ImapSource`` against a real Dovecot (``tests/dovecot.py``)."""

from __future__ import annotations

import signal
import ssl
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator

import pytest

from mailbot.errors import ConfigError, SourceError
from mailbot.shell.imap import ImapSource, Security, is_loopback
from tests.dovecot import Dovecot, _free_port

pytestmark = pytest.mark.imap

KHTN = "Bài viết/Tổ KHTN"


def message(n: int, subject: str = "Bài viết tháng 3") -> bytes:
    """A small RFC 5322 message with CRLF line ends and a unique Message-ID."""
    return (
        f"From: giaovien{n}@thcspomlot.edu.vn\r\n"
        f"To: truyenthong@thcspomlot.edu.vn\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <msg-{n}@thcspomlot.edu.vn>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Nội dung {n}\r\n"
    ).encode()


def connect(server: Dovecot) -> ImapSource:
    return ImapSource.connect(
        server.host, server.port, "none", server.user, server.password, timeout=10
    )


@pytest.fixture
def source(dovecot: Dovecot) -> Iterator[ImapSource]:
    with connect(dovecot) as src:
        src.select()
        yield src


def flags_of(server: Dovecot, folder: str = "INBOX") -> dict[int, set[bytes]]:
    with server.client() as imap:
        imap.select_folder(folder, readonly=True)
        return {uid: set(f) for uid, f in imap.get_flags(imap.search()).items()}


def later(delay: float, action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in a thread after ``delay`` seconds; join the result."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- connecting -------------------------------------------------------------


def test_login_ok_reports_capabilities(source: ImapSource) -> None:
    """A plain loopback login works and the capabilities drive the strategy."""
    assert {"IMAP4REV1", "IDLE", "MOVE", "UIDPLUS"} <= source.capabilities
    assert source.use_move and source.use_uidplus and source.use_idle


def test_bad_password_is_source_error_without_the_password(dovecot: Dovecot) -> None:
    """Login failure names the user and the server's reason, never the password."""
    wrong = "Sai-Mat-Khau-9431"
    with pytest.raises(SourceError) as caught:
        ImapSource.connect(dovecot.host, dovecot.port, "none", dovecot.user, wrong, timeout=10)
    text = "".join(traceback.format_exception(caught.value))
    assert dovecot.user in str(caught.value)
    assert "refused" in str(caught.value)
    assert wrong not in text


def test_connection_refused_is_source_error(dovecot_binary: str) -> None:
    """Nothing listening is a SourceError naming host and port."""
    port = _free_port()
    with pytest.raises(SourceError, match=f"127.0.0.1:{port}"):
        ImapSource.connect("127.0.0.1", port, "none", "u", "p", timeout=5)


@pytest.mark.parametrize("host", ["mail.thcspomlot.edu.vn", "10.0.0.5", "127.0.0.1.nip.io"])
def test_plain_imap_refused_off_loopback(host: str) -> None:
    """security='none' would send the password in clear: loopback only, no DNS asked."""
    with pytest.raises(ConfigError, match="clear text"):
        ImapSource.connect(host, 143, "none", "u", "p", timeout=1)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("localhost.evil.example", False),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_is_loopback_reads_the_host_literally(host: str, expected: bool) -> None:
    """Only literal loopback names and addresses count."""
    assert is_loopback(host) is expected


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_with_the_test_ca_verifies(dovecot_tls: Dovecot, security: Security) -> None:
    """Implicit TLS and STARTTLS both work with a context trusting the test CA."""
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    context = ssl.create_default_context(cafile=str(dovecot_tls.ca_file))
    with ImapSource.connect(
        "localhost", port, security, dovecot_tls.user, dovecot_tls.password,
        ssl_context=context, timeout=10,
    ) as src:  # fmt: skip
        assert src.select() > 0


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_default_context_rejects_self_signed(dovecot_tls: Dovecot, security: Security) -> None:
    """Without the CA, verification fails (default is verified TLS) → SourceError."""
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    with pytest.raises(SourceError, match="not trusted"):
        ImapSource.connect(
            "127.0.0.1",
            port,
            security,
            dovecot_tls.user,
            dovecot_tls.password,
            timeout=10,
        )


# -- reading ----------------------------------------------------------------


def test_select_returns_uidvalidity(dovecot: Dovecot, source: ImapSource) -> None:
    """SELECT's UIDVALIDITY is the one STATUS reports."""
    assert source.select() == dovecot.uidvalidity()


def test_uids_after_is_incremental_and_filters_the_star_edge(
    dovecot: Dovecot, source: ImapSource
) -> None:
    """``n+1:*`` matches the highest UID even when nothing is newer; it is filtered out."""
    assert source.uids_after(0) == []
    dovecot.append("INBOX", message(1))
    dovecot.append("INBOX", message(2))
    assert source.uids_after(0) == [1, 2]
    assert source.uids_after(2) == []
    assert source.uids_after(7) == []
    dovecot.append("INBOX", message(3))
    assert source.uids_after(2) == [3]


def test_fetch_uses_peek_and_leaves_seen_unset(dovecot: Dovecot, source: ImapSource) -> None:
    """BODY.PEEK[] returns the exact bytes and sizes; \\Seen stays unset (case 14)."""
    raws = {dovecot.append("INBOX", message(n)): message(n) for n in (1, 2)}
    dovecot.append("INBOX", message(3), flags=[r"\Seen"])
    assert source.uids_after(0) == [1, 2, 3]
    assert source.sizes([1, 2]) == {uid: len(raw) for uid, raw in raws.items()}
    assert source.fetch_raw([1, 2, 99]) == raws
    assert flags_of(dovecot) == {1: set(), 2: set(), 3: {rb"\Seen"}}


# -- folders and moving -----------------------------------------------------


def test_vietnamese_folder_is_created_and_mail_moved_into_it(
    dovecot: Dovecot, source: ImapSource
) -> None:
    """'/' becomes Dovecot's '.', names go out in modified UTF-7; INBOX ends empty."""
    for n in (1, 2):
        dovecot.append("INBOX", message(n))
    source.ensure_folder(KHTN)
    source.ensure_folder(KHTN)  # idempotent
    source.ensure_folder("Phản ánh")
    assert source.uids_after(0) == [1, 2]
    with dovecot.client() as imap:
        names = {name for _, _, name in imap.list_folders()}
    assert {"Bài viết", "Bài viết.Tổ KHTN", "Phản ánh"} <= names
    assert source.move([1, 2], KHTN) == "moved"
    assert source.uids_after(0) == []
    assert len(flags_of(dovecot, "Bài viết.Tổ KHTN")) == 2


def test_decomposed_name_reaches_the_same_folder(dovecot: Dovecot, source: ImapSource) -> None:
    """An NFD spelling of a name is normalised to NFC, so no twin folder appears."""
    source.ensure_folder("Phản ánh")
    source.ensure_folder(unicodedata.normalize("NFD", "Phản ánh"))
    with dovecot.client() as imap:
        assert [n for _, _, n in imap.list_folders()].count("Phản ánh") == 1


def test_name_with_the_server_delimiter_is_a_config_error(source: ImapSource) -> None:
    """'.' inside a part cannot be stored under Dovecot's Maildir++ layout."""
    with pytest.raises(ConfigError, match=r"K\.H"):
        source.ensure_folder("Bài viết/Tổ K.H.T.N")


def test_fallback_move_expunges_only_our_uids(dovecot: Dovecot, source: ImapSource) -> None:
    """Without MOVE: COPY + \\Deleted + UID EXPUNGE of ours; another's \\Deleted mail stays."""
    ours = dovecot.append("INBOX", message(1))
    theirs = dovecot.append("INBOX", message(2), flags=[r"\Deleted"])
    assert source.uids_after(0) == [ours, theirs]
    source.ensure_folder("Phản ánh")
    source.use_move = False
    assert source.move([ours], "Phản ánh") == "moved"
    assert flags_of(dovecot) == {theirs: {rb"\Deleted"}}
    assert len(flags_of(dovecot, "Phản ánh")) == 1


def test_without_move_or_uidplus_only_copies(dovecot: Dovecot, source: ImapSource) -> None:
    """Neither MOVE nor UIDPLUS: copy only, no \\Deleted, nothing expunged (case 12)."""
    ours = dovecot.append("INBOX", message(1))
    theirs = dovecot.append("INBOX", message(2), flags=[r"\Deleted"])
    assert source.uids_after(0) == [ours, theirs]
    source.ensure_folder("Phản ánh")
    source.use_move = source.use_uidplus = False
    assert source.move([ours], "Phản ánh") == "copied"
    assert flags_of(dovecot) == {ours: set(), theirs: {rb"\Deleted"}}
    assert len(flags_of(dovecot, "Phản ánh")) == 1


def test_contains_message_id_finds_a_filed_message(dovecot: Dovecot, source: ImapSource) -> None:
    """After a crash between COPY and delete, the target shows the move happened (case 7)."""
    dovecot.append("INBOX", message(1))
    assert source.uids_after(0) == [1]
    source.ensure_folder(KHTN)
    source.move([1], KHTN)
    assert source.contains_message_id(KHTN, "<msg-1@thcspomlot.edu.vn>")
    assert not source.contains_message_id(KHTN, "<msg-2@thcspomlot.edu.vn>")
    assert not source.contains_message_id("Không có", "<msg-1@thcspomlot.edu.vn>")
    dovecot.append("INBOX", message(3))
    assert source.uids_after(1) == [2]  # the watched folder is selected again


# -- waiting ----------------------------------------------------------------


def test_idle_wait_wakes_on_append(dovecot: Dovecot, source: ImapSource) -> None:
    """IDLE returns True soon after another connection APPENDs."""
    thread = later(0.3, lambda: dovecot.append("INBOX", message(1)))
    started = time.monotonic()
    assert source.idle_wait(20) is True
    assert time.monotonic() - started < 5
    thread.join()
    assert source.uids_after(0) == [1]


def test_idle_over_tls_wakes_on_append(dovecot_tls: Dovecot) -> None:
    """The readiness wait also works on a TLS socket (buffered TLS records)."""
    context = ssl.create_default_context(cafile=str(dovecot_tls.ca_file))
    with ImapSource.connect(
        "127.0.0.1", dovecot_tls.ssl_port, "ssl", dovecot_tls.user, dovecot_tls.password,
        ssl_context=context, timeout=10,
    ) as src:  # fmt: skip
        src.select()
        thread = later(0.3, lambda: dovecot_tls.append("INBOX", message(1)))
        assert src.idle_wait(20) is True
        thread.join()
        assert src.uids_after(0) == [1]


class InterruptedByTestError(Exception):
    """Raised from a signal handler, as the daemon's SIGTERM handler does."""


def interrupt_after(seconds: float) -> None:
    def handler(signum: int, frame: object) -> None:
        raise InterruptedByTestError

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)


@pytest.mark.parametrize("then", ["command", "close"])
def test_interrupted_idle_leaves_a_usable_connection(
    dovecot: Dovecot, source: ImapSource, then: str
) -> None:
    """A signal cutting IDLE short: the next command sends DONE first; close() never hangs."""
    previous = signal.getsignal(signal.SIGALRM)
    try:
        interrupt_after(0.2)
        with pytest.raises(InterruptedByTestError):
            source.idle_wait(30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    started = time.monotonic()
    if then == "close":
        source.close()
    else:
        dovecot.append("INBOX", message(1))
        assert source.uids_after(0) == [1]
    assert time.monotonic() - started < 2


def test_idle_wait_times_out_without_mail(source: ImapSource) -> None:
    """Nothing arrives: False after the timeout, and the connection is still usable."""
    started = time.monotonic()
    assert source.idle_wait(0.5) is False
    assert 0.4 < time.monotonic() - started < 3
    assert source.uids_after(0) == []


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_idle_detects_server_going_away(dovecot: Dovecot, source: ImapSource, action: str) -> None:
    """BYE/EOF during IDLE is a SourceError within seconds, without spinning (case 13)."""
    thread = later(0.3, getattr(dovecot, action))
    cpu, started = time.process_time(), time.monotonic()
    with pytest.raises(SourceError, match=r"IDLE|BYE"):
        source.idle_wait(30)
    assert time.monotonic() - started < 5
    thread.join()
    assert time.process_time() - cpu < 1.0
    with pytest.raises(SourceError, match="closed"):
        source.uids_after(0)


def test_reconnect_after_restart_catches_up(dovecot: Dovecot, source: ImapSource) -> None:
    """Mail that arrived while we were cut off is found by UID after reconnecting."""
    validity = source.select()
    thread = later(0.2, dovecot.restart)
    with pytest.raises(SourceError):
        source.idle_wait(30)
    thread.join()
    source.close()
    source.close()  # twice is fine
    dovecot.append("INBOX", message(1))
    with connect(dovecot) as again:
        assert again.select() == validity
        assert again.uids_after(0) == [1]


def test_poll_fallback_without_idle(dovecot: Dovecot, source: ImapSource) -> None:
    """No IDLE: sleep, then NOOP reports EXISTS for new mail."""
    source.use_idle = False
    dovecot.append("INBOX", message(1))
    assert source.idle_wait(0.1) is True
    assert source.idle_wait(0.1) is False


def test_changed_uidvalidity_is_visible(dovecot: Dovecot) -> None:
    """A restored mailbox shows a new UIDVALIDITY and its mail again (case 9)."""
    for n in (1, 2):
        dovecot.append("INBOX", message(n))
    with connect(dovecot) as src:
        before = src.select()
    after = dovecot.uidvalidity_reset()
    with connect(dovecot) as src:
        assert src.select() == after != before
        assert len(src.uids_after(0)) == 2
