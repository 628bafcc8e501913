"""A real SMTP server for tests: aiosmtpd in this process, on a free loopback port.

Load it as a pytest plugin (``pytest_plugins = ["tests.smtpd"]``) and ask for
a fixture::

    def test_send(smtpd: SmtpServer) -> None:
        SmtpSender(smtpd.host, smtpd.port, "none").send(raw, envelope_from="", recipients=["a@x"])
        [mail] = smtpd.received
        assert mail.mail_from == "" and mail.rcpt_tos == ["a@x"]

Fixtures:

* ``smtpd``: plaintext SMTP, AUTH offered (user ``USER``/``PASSWORD``) but not required.
* ``smtpd_tls``: STARTTLS offered on ``port`` and implicit TLS (RFC 8314) on
  ``ssl_port``, with a certificate for 127.0.0.1 signed by a throw-away CA
  (``ca_file``; :meth:`SmtpServer.client_context` trusts it).

The server can be told to answer the next N ``RCPT`` or ``DATA`` commands with
a given reply (``fail_next("DATA", "451 4.3.0 try later")``), to require AUTH
(``require_auth = True``: MAIL gets 530 before AUTH), and be stopped and
started again on the same port to simulate an outage.

Warnings: pytest runs with ``filterwarnings = error``. aiosmtpd warns when
``auth_required`` is set without ``auth_require_tls``, so "AUTH required" is
enforced in the MAIL hook instead; ``server_kwargs`` is deprecated, so
implicit TLS uses the controller's ``ssl_context``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.tls import TlsFiles, make_tls_files

__all__ = ["PASSWORD", "USER", "Received", "SmtpServer", "TlsFiles", "make_tls_files"]

HOST = "127.0.0.1"
USER = "mailbot@thcspomlot.edu.vn"
PASSWORD = "s3cret password"


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the server accepted it: the envelope and the bytes.

    ``mail_from`` is the reverse-path as aiosmtpd reports it: ``"<>"`` for the
    null reverse-path.
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    authenticated: bool
    tls: bool

    @property
    def message_id(self) -> str:
        return str(BytesHeaderParser().parsebytes(self.content).get("Message-ID", "")).strip()


class Handler:
    """Records every accepted message; answers with scripted failures when told to."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures: dict[str, list[str]] = {"RCPT": [], "DATA": []}
        self.require_auth = False
        self.lock = threading.Lock()

    def _scripted(self, command: str) -> str | None:
        with self.lock:
            queue = self.failures[command]
            return queue.pop(0) if queue else None

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._scripted("RCPT")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        reply = self._scripted("DATA")
        if reply is not None:
            return reply
        content = envelope.original_content or b""
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=content,
            authenticated=bool(session.authenticated),
            tls=_on_tls(server),
        )
        with self.lock:
            self.received.append(received)
        return "250 2.0.0 OK queued"


def _on_tls(server: SMTP) -> bool:
    """Whether the session runs over TLS, by STARTTLS or implicitly (``session.ssl``: STARTTLS)."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accept ``USER``/``PASSWORD`` only."""
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=True would send no 535


@dataclass
class SmtpServer:
    """An aiosmtpd server on ``host:port`` (and ``ssl_port`` with TLS); see the module doc."""

    tls: TlsFiles | None = None
    host: str = HOST
    port: int = 0
    ssl_port: int = 0
    handler: Handler = field(default_factory=Handler)
    _controllers: list[Controller] = field(default_factory=list)

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def require_auth(self) -> bool:
        return self.handler.require_auth

    @require_auth.setter
    def require_auth(self, value: bool) -> None:
        self.handler.require_auth = value

    def fail_next(self, command: str, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` ``RCPT`` or ``DATA`` commands with ``reply``."""
        with self.handler.lock:
            self.handler.failures[command].extend([reply] * times)

    def by_message_id(self) -> dict[str, int]:
        """How many copies of each Message-ID arrived."""
        counts: dict[str, int] = {}
        for mail in self.received:
            counts[mail.message_id] = counts.get(mail.message_id, 0) + 1
        return counts

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the test CA."""
        assert self.tls is not None, "not a TLS server"
        return ssl.create_default_context(cafile=str(self.tls.ca_file))

    @property
    def running(self) -> bool:
        return bool(self._controllers)

    def start(self) -> None:
        """Listen again on the same ports (a stopped controller cannot restart: new ones)."""
        assert not self._controllers, "already running"
        self.port = self.port or _free_port()
        self._controllers.append(self._controller(self.port, implicit_tls=False))
        if self.tls is not None:
            self.ssl_port = self.ssl_port or _free_port()
            self._controllers.append(self._controller(self.ssl_port, implicit_tls=True))
        for controller in self._controllers:
            controller.start()

    def stop(self) -> None:
        """Close the listeners: clients now get "connection refused"."""
        while self._controllers:
            self._controllers.pop().stop()

    def _controller(self, port: int, *, implicit_tls: bool) -> Controller:
        context = self.tls.server_context() if self.tls else None
        return Controller(
            self.handler,
            hostname=self.host,
            port=port,
            server_hostname="mx.test.example",
            ssl_context=context if implicit_tls else None,
            tls_context=None if implicit_tls else context,
            authenticator=_authenticate,
            auth_require_tls=False,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def smtpd_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """One CA and server certificate for the whole session (openssl is slowish)."""
    return make_tls_files(tmp_path_factory.mktemp("smtpd-tls"))


@pytest.fixture
def smtpd() -> Iterator[SmtpServer]:
    """A plaintext SMTP server, fresh per test."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtpd_tls(smtpd_tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """An SMTP server offering STARTTLS on ``port`` and implicit TLS on ``ssl_port``."""
    server = SmtpServer(tls=smtpd_tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()
