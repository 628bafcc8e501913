"""``ImapSource``: the watched folder on an IMAP server, over imapclient.

I/O only: it names no roles, topics or rules.  What it guarantees:

* TLS is verified by default (``ssl.create_default_context()``); plain IMAP
  is refused unless the host is literally a loopback address.
* Fetching uses ``BODY.PEEK[]`` and never sets ``\\Seen`` (RFC 3501 6.4.5), so
  a human's read/unread marks are left alone and are never our state.
* ``move`` uses MOVE (RFC 6851) when offered, else COPY + ``\\Deleted`` +
  UID EXPUNGE of exactly our UIDs (RFC 4315 2.1), else COPY alone: it never
  issues a bare EXPUNGE, which would also remove mail someone else flagged.
* ``idle_wait`` uses IDLE (RFC 2177) and turns a dead connection into
  ``SourceError`` (imapclient's ``idle_check()`` returns ``[]`` both for
  "nothing new" and for EOF), so the caller reconnects and catches up by UID.
* Every failure is ``SourceError``; a login failure never echoes the password.

See ``MailSource``.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import selectors
import socket
import ssl
import time
import unicodedata
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from imapclient import DELETED, IMAPClient

from mailbot.errors import ConfigError, SourceError
from mailbot.shell.source import MoveOutcome

if TYPE_CHECKING:
    from mailbot.shell.oauth import TokenProvider

__all__ = ["IDLE_MAX_SECONDS", "ImapSource", "Security", "is_loopback"]

Security = Literal["ssl", "starttls", "none"]

IDLE_MAX_SECONDS = 600.0
"""Re-issue IDLE at least this often: RFC 2177 lets a server drop an idle
client after 30 minutes; imapclient's documentation advises 10."""

BATCH = 200
"""UIDs per FETCH/MOVE command: keeps command lines far below server limits
(Dovecot: 64 KiB) while still using one round trip for a normal backlog."""

_IMAP_ERRORS = (imaplib.IMAP4.error, OSError)
_ARRIVALS = (b"EXISTS", b"RECENT")


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1, read literally (no DNS)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _batches(uids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(uids), BATCH):
        yield list(uids[start : start + BATCH])


def _is_bye(response: Any) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def _is_arrival(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in _ARRIVALS


class ImapSource:
    """One logged-in IMAP connection watching ``folder``.  See ``MailSource``.

    ``use_move``, ``use_uidplus`` and ``use_idle`` start from the server's
    CAPABILITY list; tests (or an operator working around a broken server)
    may turn them off.
    """

    def __init__(self, client: IMAPClient, *, folder: str = "INBOX", where: str = "imap") -> None:
        self._client = client
        self._ensured: set[str] = set()
        self._where = where
        self._closed = False
        self._idling = False
        self._hierarchy: tuple[str, str] | None = None
        self.folder = folder
        caps = self.capabilities
        self.use_move = "MOVE" in caps
        self.use_uidplus = "UIDPLUS" in caps
        self.use_idle = "IDLE" in caps

    # -- connecting ---------------------------------------------------------

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        security: Security,
        user: str,
        password: str,
        *,
        folder: str = "INBOX",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 60,
        token_provider: TokenProvider | None = None,
    ) -> ImapSource:
        """Connect, secure the channel and log in.

        ``security``: ``ssl`` is implicit TLS (RFC 8314, port 993),
        ``starttls`` upgrades a plain connection (RFC 3501 6.2.1) and fails if
        the server does not offer it, ``none`` is for loopback only.

        With a ``token_provider`` the login is ``AUTHENTICATE XOAUTH2`` with
        its access token (Gmail, Microsoft 365; see ``mailbot.shell.oauth``)
        and ``password`` is not used.

        Raises ``ConfigError`` (exit 78: restarting cannot help) for ``none``
        to a non-loopback host, and ``SourceError`` when the server is
        unreachable, its certificate is not trusted or the login is refused.
        """
        _check_security(host, security)
        where = f"{host}:{port}"
        client = _open(host, port, security, context=ssl_context, timeout=timeout, where=where)
        try:
            if token_provider is None:
                _login(client, user, password, where)
            else:
                _oauth2_login(client, user, token_provider, where)
            return cls(client, folder=folder, where=f"{user} at {where}")
        except BaseException:
            _shutdown(client)
            raise

    @property
    def capabilities(self) -> frozenset[str]:
        """The server's CAPABILITY names, upper case (``"IDLE"``, ``"MOVE"``…)."""
        with self._guard("CAPABILITY"):
            raw = self._client.capabilities()
        return frozenset(bytes(c).decode("ascii", "replace").upper() for c in raw)

    # -- reading ------------------------------------------------------------

    def select(self) -> int:
        """SELECT the watched folder (read-write, for moves); return UIDVALIDITY."""
        name = self._server_name(self.folder)
        with self._guard(f"SELECT {self.folder}"):
            info = self._client.select_folder(name)
        return int(info[b"UIDVALIDITY"])

    def uids_after(self, last_uid: int) -> list[int]:
        """UID SEARCH UID n+1:* and drop UIDs <= n.

        RFC 3501 6.4.8/9: ``n+1:*`` means "n+1 to the highest UID", so when
        nothing is newer it still matches the highest UID; hence the filter.
        A NOOP first lets the server bring our view of the folder up to date
        (6.1.2): Dovecot's SEARCH alone does not see mail appended meanwhile.
        """
        with self._guard("UID SEARCH"):
            self._client.noop()
            found = self._client.search(["UID", f"{max(last_uid, 0) + 1}:*"])
        return sorted(int(uid) for uid in found if int(uid) > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE per UID, so oversize mail is skipped before it is fetched."""
        fetched = self._fetch(uids, b"RFC822.SIZE", b"RFC822.SIZE")
        return {uid: int(size) for uid, size in fetched.items()}

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The full messages via ``BODY.PEEK[]``; vanished UIDs are absent."""
        fetched = self._fetch(uids, b"BODY.PEEK[]", b"BODY[]")
        return {uid: bytes(raw) for uid, raw in fetched.items()}

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """EXAMINE ``folder`` and SEARCH HEADER Message-ID, then re-select ours.

        Pass the id with its angle brackets: SEARCH HEADER matches substrings
        (RFC 3501 6.4.4), and ``<id>`` cannot be part of another id.
        """
        target = self._server_name(folder)
        if not self._exists(target):
            return False
        try:
            with self._guard(f"SEARCH in {folder}"):
                self._client.select_folder(target, readonly=True)
                found = self._client.search(["HEADER", "Message-ID", message_id])
        finally:
            if not self._closed:
                self.select()
        return bool(found)

    # -- writing ------------------------------------------------------------

    def ensure_folder(self, name: str) -> None:
        """CREATE the folder and its parents unless they exist, and SUBSCRIBE.

        imapclient encodes names in modified UTF-7 (RFC 3501 5.1.3), so
        ``"Phản ánh"`` works; ``/`` becomes the server's delimiter.
        """
        if name in self._ensured:
            return
        delimiter, _ = self._namespace()
        server = self._server_name(name)
        parts = server.split(delimiter) if delimiter else [server]
        for depth in range(1, len(parts) + 1):
            self._create_missing(delimiter.join(parts[:depth]))
        self._ensured.add(name)

    def move(self, uids: Sequence[int], folder: str) -> MoveOutcome:
        """File ``uids`` into ``folder``: MOVE, else COPY + UID EXPUNGE, else COPY.

        Without UIDPLUS there is no way to expunge only our messages, so the
        originals are left as they are (no ``\\Deleted``) and ``copied`` is
        returned: RELIABILITY.md case 12.
        """
        target = self._server_name(folder)
        outcome: MoveOutcome = "moved"
        for batch in _batches(uids):
            outcome = self._move_batch(batch, target)
        return outcome

    # -- waiting ------------------------------------------------------------

    def idle_wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` (capped at 10 min) for new mail; True if any came.

        With IDLE: wait until the socket is readable, read what came, then
        DONE.  Readable-but-nothing, ``* BYE`` or a failing DONE all mean the
        connection is gone: ``SourceError``, RELIABILITY.md cases 7 and 13.
        Without IDLE: sleep, then NOOP (RFC 3501 6.1.2) for news.

        A silently black-holed connection shows no EOF: it is found when DONE
        gets no answer within the connect ``timeout``, so a dead link costs
        at most ``timeout`` + the read timeout (RELIABILITY.md rule 7).
        """
        timeout = min(max(timeout, 0.0), IDLE_MAX_SECONDS)
        if not self.use_idle:
            time.sleep(timeout)
            return self._noop()
        with self._guard("IDLE"):
            self._client.idle()
        self._idling = True  # until DONE: an exception (a signal) may cut in
        arrived = self._idle_until(time.monotonic() + timeout)
        with self._guard("IDLE DONE"):
            done = self._end_idle()
        return self._any_arrival(done) or arrived

    # -- closing ------------------------------------------------------------

    def close(self) -> None:
        """LOGOUT, or just close the socket if the connection is already broken."""
        if self._closed:
            return
        self._closed = True
        if self._idling:  # LOGOUT inside IDLE gets no answer: just drop the socket
            _shutdown(self._client)
            return
        try:
            self._client.logout()
        except _IMAP_ERRORS:
            _shutdown(self._client)

    def __enter__(self) -> ImapSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn imaplib/socket errors into ``SourceError`` naming the action."""
        if self._closed:
            raise SourceError(f"{self._where}: {action} on a closed connection")
        try:
            if self._idling and not action.startswith("IDLE"):
                self._end_idle()  # an earlier idle_wait was interrupted
            yield
        except _IMAP_ERRORS as exc:
            if isinstance(exc, imaplib.IMAP4.abort | OSError):
                self._closed = True
                _shutdown(self._client)
            raise SourceError(f"{self._where}: {action} failed: {exc}") from exc

    def _fetch(self, uids: Sequence[int], item: bytes, key: bytes) -> dict[int, Any]:
        wanted = set(uids)
        result: dict[int, Any] = {}
        for batch in _batches(uids):
            with self._guard(f"UID FETCH {item.decode()}"):
                data = self._client.fetch(batch, [item])
            result.update(
                {int(u): d[key] for u, d in data.items() if int(u) in wanted and key in d}
            )
        return result

    def _move_batch(self, uids: list[int], target: str) -> MoveOutcome:
        with self._guard(f"moving {len(uids)} message(s) to {target}"):
            if self.use_move:
                self._client.move(uids, target)
                return "moved"
            self._client.copy(uids, target)
            if not self.use_uidplus:
                return "copied"
            self._client.add_flags(uids, [DELETED], silent=True)
            self._client.uid_expunge(uids)
        return "moved"

    def _end_idle(self) -> list[Any]:
        """Send DONE (RFC 2177) and return the responses that came with it."""
        self._idling = False
        return list(self._client.idle_done()[1])

    def _idle_until(self, deadline: float) -> bool:
        """Read IDLE responses until an arrival (True) or the deadline (False).

        Keep-alives such as ``* OK Still here`` do not end the wait.
        """
        sock = self._client.socket()
        while (remaining := deadline - time.monotonic()) > 0:
            if not _wait_readable(sock, remaining):
                return False
            with self._guard("IDLE"):
                responses = list(self._client.idle_check(timeout=0))
            if not responses:  # readable but nothing to read: EOF
                self._fail("the server closed the connection during IDLE")
            if self._any_arrival(responses):
                return True
        return False

    def _noop(self) -> bool:
        with self._guard("NOOP"):
            responses = list(self._client.noop()[1])
        return self._any_arrival(responses)

    def _any_arrival(self, responses: list[Any]) -> bool:
        if any(_is_bye(r) for r in responses):
            self._fail("the server said BYE")
        return any(_is_arrival(r) for r in responses)

    def _fail(self, reason: str) -> NoReturn:
        """Drop the broken connection and tell the caller to reconnect."""
        self._closed = True
        _shutdown(self._client)
        raise SourceError(f"{self._where}: {reason}")

    def _exists(self, server_name: str) -> bool:
        with self._guard(f"LIST {server_name}"):
            return bool(self._client.folder_exists(server_name))

    def _create_missing(self, server_name: str) -> None:
        if server_name.upper() == "INBOX" or self._exists(server_name):
            return
        try:
            with self._guard(f"CREATE {server_name}"):
                self._client.create_folder(server_name)
        except SourceError:
            if not self._exists(server_name):  # else another client created it first
                raise
        with self._guard(f"SUBSCRIBE {server_name}"):
            self._client.subscribe_folder(server_name)

    def _namespace(self) -> tuple[str, str]:
        """(delimiter, personal prefix) from NAMESPACE (RFC 2342) or LIST "" ""."""
        if self._hierarchy is None:
            self._hierarchy = self._read_namespace()
        return self._hierarchy

    def _read_namespace(self) -> tuple[str, str]:
        with self._guard("NAMESPACE"):
            if "NAMESPACE" in self.capabilities:
                personal = self._client.namespace().personal or [("", None)]
                prefix, delimiter = personal[0]
                return (str(delimiter or ""), str(prefix or ""))
            listed = self._client.list_folders("", "")
        delimiter = listed[0][1] if listed else b""
        return (bytes(delimiter or b"").decode("ascii"), "")

    def _server_name(self, name: str) -> str:
        """``"Bài viết/Tổ KHTN"`` → the server's spelling (NFC, its delimiter, prefix)."""
        name = unicodedata.normalize("NFC", name).strip("/")
        if name.upper() == "INBOX":
            return "INBOX"
        delimiter, prefix = self._namespace()
        parts = name.split("/")
        _check_parts(name, parts, delimiter)
        server = delimiter.join(parts) if delimiter else name
        if prefix and not server.startswith(prefix):
            server = prefix + server
        return server


def _check_parts(name: str, parts: list[str], delimiter: str) -> None:
    if not delimiter and len(parts) > 1:
        raise ConfigError(f"folder {name!r}: this server has no folder hierarchy; drop the '/'")
    for part in parts:
        if not part or (delimiter and delimiter in part) or any(c in part for c in "*%"):
            raise ConfigError(
                f"folder {name!r}: part {part!r} is empty or contains "
                f"{delimiter!r}, '*' or '%'; rename it"
            )


def _check_security(host: str, security: Security) -> None:
    if security not in ("ssl", "starttls", "none"):
        raise ConfigError(f"imap security {security!r}: use ssl, starttls or none")
    if security == "none" and not is_loopback(host):
        raise ConfigError(
            f"imap security 'none' sends the password in clear text; it is allowed only "
            f"for localhost/127.0.0.1/::1, not {host!r}: use ssl or starttls"
        )


def _open(
    host: str,
    port: int,
    security: Security,
    *,
    context: ssl.SSLContext | None,
    timeout: float,
    where: str,
) -> IMAPClient:
    """TCP connect, then TLS (implicit or STARTTLS) as asked, verified by ``context`` or by
    the system's trusted certificates (none is loaded for a plain loopback connection)."""
    if security != "none" and context is None:
        context = ssl.create_default_context()
    try:
        client = IMAPClient(host, port, ssl=security == "ssl", ssl_context=context, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise SourceError(f"{where}: TLS certificate not trusted: {exc.verify_message}") from exc
    except _IMAP_ERRORS as exc:
        raise SourceError(f"cannot connect to {where}: {exc}") from exc
    if security == "starttls" and context is not None:
        _starttls(client, context, where)
    # imapclient sets imaplib's debug level to 5, which makes imaplib build the
    # repr of every fetched message (25 MB for a 25 MB mail) before the log
    # level is even checked; its logger is used only at DEBUG.
    client._imap.debug = 0
    return client


def _starttls(client: IMAPClient, context: ssl.SSLContext, where: str) -> None:
    try:
        client.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        _shutdown(client)
        raise SourceError(f"{where}: TLS certificate not trusted: {exc.verify_message}") from exc
    except _IMAP_ERRORS as exc:
        _shutdown(client)
        raise SourceError(f"{where}: STARTTLS failed: {exc}") from exc


def _login(client: IMAPClient, user: str, password: str, where: str) -> None:
    """LOGIN; the error names the user and the server's reason, never the password."""
    try:
        client.login(user, password)
    except _IMAP_ERRORS as exc:
        reason = str(exc).replace(password, "***") if password else str(exc)
        # "from None": the original exception's args could carry the password.
        raise SourceError(f"{where}: login as {user!r} refused: {reason}") from None


def _oauth2_login(client: IMAPClient, user: str, tokens: TokenProvider, where: str) -> None:
    """AUTHENTICATE XOAUTH2 (Google's XOAUTH2 protocol; RFC 7628 is its standard form).

    A refused token is forgotten, so the next connect fetches a new one; the
    error names the user and the server's reason, never the token.
    """
    token = tokens.token()
    try:
        client.oauth2_login(user, token)
    except _IMAP_ERRORS as exc:
        tokens.invalidate()
        reason = str(exc).replace(token, "***")
        raise SourceError(f"{where}: XOAUTH2 login as {user!r} refused: {reason}") from None


def _wait_readable(sock: socket.socket, timeout: float) -> bool:
    """Block until ``sock`` has data (or EOF) or ``timeout`` passes; no busy loop."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout))


def _shutdown(client: IMAPClient) -> None:
    with contextlib.suppress(*_IMAP_ERRORS):
        client.shutdown()
