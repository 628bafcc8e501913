"""A real Dovecot IMAP server for tests, started on a free loopback port.

Load it as a pytest plugin (``pytest_plugins = ["tests.dovecot"]`` in
``tests/conftest.py``) and ask for a fixture::

    @pytest.mark.imap
    def test_login(dovecot: Dovecot) -> None:
        dovecot.append("INBOX", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
        with dovecot.client() as imap:          # a logged-in IMAPClient
            assert imap.select_folder("INBOX")[b"EXISTS"] == 1

Fixtures:

* ``dovecot``: plain IMAP (``ssl = no``), fresh empty mailbox per test.
* ``dovecot_tls``: ``ssl = yes`` with a certificate for ``127.0.0.1`` and
  ``localhost`` signed by a throw-away CA (``ca_file``); STARTTLS on ``port``,
  implicit TLS (RFC 8314) on ``ssl_port``.
* ``dovecot_factory``: ``dovecot_factory(tls=True)`` for tests wanting both.

Why a real server: the shell must be tested against the protocol as a server
speaks it (IDLE, MOVE, UIDPLUS, modified UTF-7 names, BYE on shutdown), not a
mock of our own belief about it.  Each server has its own config, base_dir,
log and Maildir under one temporary directory, so nothing touches the
system's Dovecot.  Run as root (CI), the login processes run as ``dovenull``
and mail is owned by ``dovecot``; run as another user, Dovecot runs entirely
as that user.  The config is written for Dovecot 2.3 (Debian 12); 2.4 changed
the syntax, and the fixture skips there with a clear reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient, imap_utf7

from tests.tls import TlsFiles, make_tls_files

__all__ = ["Dovecot", "TlsFiles"]

USER = "truyenthong@thcspomlot.edu.vn"
PASSWORD = "secret"
HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_GRACE = 0.5

_CONFIG = """\
# Written by tests/dovecot.py for one test; Dovecot 2.3 syntax.
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailbot-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {host}
shutdown_clients = yes
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {mail_uid}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
mail_location = maildir:{root}/mail/%n
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = {ssl}
{ssl_files}
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
  }}
}}
"""


@dataclass
class Dovecot:
    """One Dovecot instance: its address, its test user, and controls."""

    root: Path
    port: int
    ssl_port: int
    tls: TlsFiles | None = None
    host: str = HOST
    user: str = USER
    password: str = PASSWORD
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server certificate (TLS instances only)."""
        if self.tls is None:
            raise AttributeError("this Dovecot runs with ssl = no")
        return self.tls.ca_file

    @property
    def maildir(self) -> Path:
        """The test user's Maildir (INBOX) on disk."""
        return self.root / "mail" / self.user.partition("@")[0]

    @property
    def log(self) -> str:
        """Dovecot's log so far, for assertion messages."""
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start the master in the foreground and wait for the greeting."""
        if self._proc is not None:
            return
        cmd = ["dovecot", "-F", "-c", str(self.root / "dovecot.conf")]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_for_greeting(self.host, self.port, self._proc, self.log)

    def stop(self) -> None:
        """Stop the master; ``shutdown_clients`` ends open IMAP sessions with BYE."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # The whole group at once, so every session sends BYE; the master
        # itself sometimes lingers for seconds, and holds nothing we need.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _wait_for_group_exit(proc.pid)

    def restart(self) -> None:
        """Stop and start on the same port, keeping the mail."""
        self.stop()
        self.start()

    @contextlib.contextmanager
    def client(self, *, folder_encode: bool = True) -> Iterator[IMAPClient]:
        """A logged-in imapclient connection (plain IMAP), logged out on exit."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        imap.folder_encode = folder_encode
        imap.login(self.user, self.password)
        try:
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        msg_time: datetime | None = None,
    ) -> int:
        """APPEND one message as another client would; return its UID (UIDPLUS)."""
        with self.client() as imap:
            response = imap.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        return _appended_uid(response)

    def create_folder(self, folder: str) -> None:
        """CREATE a folder in the server's own syntax (delimiter ``.``)."""
        with self.client() as imap:
            imap.create_folder(folder)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        """The folder's UIDVALIDITY as STATUS reports it."""
        with self.client() as imap:
            return int(imap.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def uidvalidity_reset(self, folder: str = "INBOX") -> int:
        """Make the server forget the folder's UIDs, as a restored mailbox does.

        Stops Dovecot, deletes the folder's ``dovecot-uidlist`` and index
        files and starts it again: the messages stay, Dovecot renumbers them
        and, thanks to its ``dovecot-uidvalidity`` counter, gives the folder a
        new UIDVALIDITY (RFC 3501 2.3.1.1).  Returns the new value.
        """
        self.stop()
        path = self.maildir if folder == "INBOX" else self.maildir / f".{_mutf7(folder)}"
        for name in os.listdir(path):
            if name == "dovecot-uidlist" or name.startswith("dovecot.index"):
                (path / name).unlink()
        self.start()
        return self.uidvalidity(folder)


def _mutf7(folder: str) -> str:
    return str(imap_utf7.encode(folder).decode("ascii"))


def _appended_uid(response: bytes) -> int:
    match = re.search(rb"APPENDUID \d+ (\d+)", response)
    return int(match.group(1)) if match else 0


def _wait_for_greeting(host: str, port: int, proc: subprocess.Popen[bytes], log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited with {proc.returncode}:\n{log}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 1) as sock:
            if sock.recv(64).startswith(b"* OK"):
                return
        time.sleep(0.02)
    raise RuntimeError(f"dovecot did not greet on {host}:{port} within {START_TIMEOUT}s")


def _wait_for_group_exit(pgid: int) -> None:
    """Wait until no child holds the listeners, so a restart can bind the port."""
    deadline = time.monotonic() + START_TIMEOUT
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.01)


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in the group.

    Zombies are ignored: they hold no sockets, and a container's PID 1 may
    take its time to reap Dovecot's orphaned children.
    """
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _accounts() -> dict[str, str | int]:
    """Who runs what: dovenull/dovecot as root, else everything as ourselves."""
    if os.geteuid() == 0:
        mail = pwd.getpwnam("dovecot")
        login, internal = pwd.getpwnam("dovenull").pw_name, "dovecot"
    else:
        mail = pwd.getpwuid(os.geteuid())
        login = internal = mail.pw_name
    return {
        "login_user": login,
        "internal_user": internal,
        "mail_uid": mail.pw_uid,
        "mail_gid": mail.pw_gid,
    }


def _write_config(root: Path, port: int, ssl_port: int, tls: TlsFiles | None) -> None:
    accounts = _accounts()
    ssl_files = ""
    if tls is not None:
        ssl_files = f"ssl_cert = <{tls.cert_file}\nssl_key = <{tls.key_file}"
    text = _CONFIG.format(
        root=root,
        host=HOST,
        port=port,
        ssl_port=ssl_port,
        ssl="yes" if tls else "no",
        ssl_files=ssl_files,
        **accounts,
    )
    (root / "dovecot.conf").write_text(text)
    home = root / "home" / USER.partition("@")[0]
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::{home}::\n")
    for sub in ("mail", "home", home):
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(root / sub, int(accounts["mail_uid"]), int(accounts["mail_gid"]))


def _make_root() -> Path:
    # Short path: base_dir holds UNIX sockets (108-byte limit); 0755 so that the
    # dovecot and dovenull users can reach their parts of it.
    root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
    root.chmod(0o755)
    return root


def _dovecot_major_minor() -> tuple[int, int] | None:
    if shutil.which("dovecot") is None:
        return None
    out = subprocess.run(
        ["dovecot", "--version"], check=False, capture_output=True, text=True
    ).stdout
    match = re.match(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


@pytest.fixture(scope="session")
def dovecot_binary() -> str:
    """Skip unless a Dovecot 2.3 binary is installed (``apt-get install dovecot-imapd``)."""
    version = _dovecot_major_minor()
    if version is None:
        pytest.skip("dovecot not installed: apt-get install dovecot-imapd (see .ci/apt-packages)")
    if version[:1] != (2,) or version[1] != 3:
        pytest.skip(f"tests/dovecot.py writes Dovecot 2.3 config; found {version}")
    try:
        _accounts()
    except KeyError:
        pytest.skip("users dovecot/dovenull missing: reinstall dovecot-core")
    return "dovecot"


@pytest.fixture(scope="session")
def dovecot_tls_files(dovecot_binary: str) -> Iterator[TlsFiles]:
    """One CA and server certificate for the whole session (openssl is slowish)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: apt-get install openssl")
    directory = _make_root()
    try:
        yield make_tls_files(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


DovecotFactory = Callable[..., Dovecot]


@pytest.fixture
def dovecot_factory(
    dovecot_binary: str, request: pytest.FixtureRequest
) -> Iterator[DovecotFactory]:
    """Start fresh servers on demand: ``dovecot_factory(tls=True)``; all stopped at teardown."""
    started: list[Dovecot] = []

    def start(*, tls: bool = False) -> Dovecot:
        files = request.getfixturevalue("dovecot_tls_files") if tls else None
        root = _make_root()
        server = Dovecot(root=root, port=_free_port(), ssl_port=_free_port(), tls=files)
        started.append(server)
        _write_config(root, server.port, server.ssl_port, files)
        server.start()
        return server

    yield start
    for server in started:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_factory: DovecotFactory) -> Dovecot:
    """A fresh Dovecot with ``ssl = no`` and an empty mailbox."""
    return dovecot_factory()


@pytest.fixture
def dovecot_tls(dovecot_factory: DovecotFactory) -> Dovecot:
    """A fresh Dovecot with ``ssl = yes`` (STARTTLS on ``port``, TLS on ``ssl_port``)."""
    return dovecot_factory(tls=True)
