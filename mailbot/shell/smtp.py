"""Sending mail: over SMTP to the school's server, or into a folder when there is none.

Both senders take the finished message bytes from the outbox and the envelope
apart from them (RFC 5321 section 3.3): automatic mail goes out with the null
reverse-path ``""`` (``MAIL FROM:<>``, RFC 5321 section 4.5.5, RFC 3834
section 3.3), so a bounce of a bounce or an auto-reply to an auto-reply cannot
loop. Neither sender changes the bytes, so a resend after a crash carries the
same Message-ID and the duplicate is recognisable (RFC 1047, RELIABILITY rule 5).

Failures are classified for the outbox (``mailbot.app.outbox``):

* :class:`TemporarySendError`: a 4xx reply, or no usable session at all
  (refused, reset, timed out, DNS, TLS or certificate failure, no STARTTLS,
  AUTH rejected). The latter has ``unreachable=True``: the message is not at
  fault, so the caller stops its round instead of trying every row.
* :class:`PermanentSendError`: a 5xx reply to RCPT (every recipient refused
  with 5xx) or to DATA. A refused MAIL FROM (e.g. 530 authentication
  required, 550 relaying denied) is ``unreachable`` instead: every message
  has the same envelope sender, so it is a configuration problem that would
  otherwise fail the whole outbox for good in one round.

A password never appears in an error or a log line: smtplib's errors do not
carry it, and :meth:`SmtpSender._describe` scrubs it anyway.
"""

from __future__ import annotations

import email.parser
import hashlib
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

from mailbot.errors import SendError, SourceError
from mailbot.shell.oauth import TokenProvider, xoauth2_string

__all__ = ["FileSender", "PermanentSendError", "Sender", "SmtpSender", "TemporarySendError"]

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
Refused = Mapping[str, tuple[int, bytes]]


class TemporarySendError(SendError):
    """Try again later: a 4xx reply or a transport failure (RFC 5321 section 4.2.1).

    ``unreachable`` is True when no SMTP session could be had at all, so every
    other message would fail the same way right now.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class PermanentSendError(SendError):
    """Do not try again: the server refused this message with a 5xx reply."""


class Sender(Protocol):
    """Delivers one finished message to ``recipients`` with ``envelope_from`` as reverse-path."""

    def send(self, raw: bytes, *, envelope_from: str, recipients: Sequence[str]) -> None: ...

    def check(self) -> None: ...


class SmtpSender:
    """See `Sender`. One SMTP session per message, with TLS verified as configured.

    ``security`` is ``ssl`` (implicit TLS, RFC 8314, usually port 465),
    ``starttls`` (RFC 3207, port 587; refused if the server does not offer it,
    since sending in clear would defeat the setting) or ``none`` (plaintext;
    the config allows it only towards loopback). The certificate and host name
    are checked against ``ssl_context``, by default the system's CAs.

    If the server accepts some recipients and refuses others, the message
    counts as sent (those who can get it did; a resend would duplicate it for
    them) and the refusals are logged as a warning, addresses at DEBUG only.

    With a ``token_provider`` the login is ``AUTH XOAUTH2`` (Gmail, Microsoft
    365; see ``mailbot.shell.oauth``) as ``user`` and ``password`` is unused.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        user: str = "",
        password: str = "",
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30,
        local_hostname: str | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self._host, self._port, self._security = host, port, security
        self._user, self._password = user, password
        self._context = ssl_context or ssl.create_default_context()
        self._timeout, self._local_hostname = timeout, local_hostname
        self._tokens = token_provider

    def __repr__(self) -> str:
        return f"SmtpSender({self._host}:{self._port}, {self._security}, user={self._user!r})"

    def send(self, raw: bytes, *, envelope_from: str, recipients: Sequence[str]) -> None:
        """Send ``raw`` as is; raises `TemporarySendError` or `PermanentSendError`."""
        if not recipients:
            raise PermanentSendError("no recipients")
        client = self._open()
        try:
            refused = self._transfer(client, raw, envelope_from, list(recipients))
        except BaseException:
            client.close()  # no QUIT: a timed-out server would make us wait again
            raise
        _quit(client)
        if refused:
            _warn_refused(refused)

    def check(self) -> None:
        """Connect, secure the channel and log in, then QUIT; what ``mailbot doctor`` asks."""
        _quit(self._open())

    # -- the session ------------------------------------------------------

    def _open(self) -> smtplib.SMTP:
        """A connected, secured and logged-in session, or an ``unreachable`` error."""
        client: smtplib.SMTP | None = None
        try:
            client = self._connect()
            self._secure(client)
            self._login(client)
        except (smtplib.SMTPException, OSError, UnicodeError, SourceError) as exc:
            if client is not None:
                client.close()
            raise self._unusable(exc) from None
        return client

    def _unusable(self, exc: BaseException) -> TemporarySendError:
        """No session: ``unreachable``. Not chained, since smtplib's AUTH error may hold the
        password (a ``UnicodeError`` for a non-ASCII one keeps it in ``.object``)."""
        if isinstance(exc, UnicodeError):
            text = "the user name, password or local host name is not ASCII (smtplib needs ASCII)"
            return TemporarySendError(f"SMTP {self._host}:{self._port}: {text}", unreachable=True)
        return TemporarySendError(self._describe(exc), unreachable=True)

    def _connect(self) -> smtplib.SMTP:
        """Connect; TLS from the first byte for ``ssl`` (RFC 8314 section 3.3)."""
        if self._security == "ssl":
            return smtplib.SMTP_SSL(
                self._host,
                self._port,
                local_hostname=self._local_hostname,
                timeout=self._timeout,
                context=self._context,
            )
        return smtplib.SMTP(
            self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout
        )

    def _secure(self, client: smtplib.SMTP) -> None:
        """EHLO, and for ``starttls`` upgrade the channel and EHLO again (RFC 3207 section 4.2)."""
        client.ehlo_or_helo_if_needed()
        if self._security != "starttls":
            return
        if not client.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS (RFC 3207)")
        client.starttls(context=self._context)
        client.ehlo_or_helo_if_needed()

    def _login(self, client: smtplib.SMTP) -> None:
        """AUTH (RFC 4954) when a user is configured, or XOAUTH2 with a token provider."""
        if self._tokens is not None:
            self._xoauth2(client, self._tokens)
        elif self._user:
            client.login(self._user, self._password)

    def _xoauth2(self, client: smtplib.SMTP, tokens: TokenProvider) -> None:
        """AUTH XOAUTH2 with the initial response (Google's XOAUTH2 protocol, RFC 4954).

        A server refusing the token first sends a 334 challenge (an error in
        JSON) to be answered with an empty line, then 535; the token is then
        forgotten so that the next session fetches a new one.  A token endpoint
        failure (``SourceError``) makes the session unusable like a refused AUTH.
        """
        token = tokens.token()
        try:
            client.auth(
                "XOAUTH2",
                lambda challenge=None: (
                    "" if challenge is not None else xoauth2_string(self._user, token)
                ),
                initial_response_ok=True,
            )
        except smtplib.SMTPAuthenticationError:
            tokens.invalidate()
            raise

    def _transfer(
        self, client: smtplib.SMTP, raw: bytes, envelope_from: str, recipients: list[str]
    ) -> Refused:
        """MAIL, RCPT, DATA; returns the recipients refused when others were accepted."""
        options = _mail_options(client, [envelope_from, *recipients])
        try:
            return client.sendmail(envelope_from, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _all_refused(exc.recipients) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise TemporarySendError(self._describe(exc), unreachable=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, self._describe(exc)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporarySendError(self._describe(exc), unreachable=True) from exc

    def _describe(self, exc: BaseException) -> str:
        """``exc`` as one line naming the server, with the password scrubbed."""
        if isinstance(exc, smtplib.SMTPResponseException):
            reply = exc.smtp_error
            text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
            detail = f"{exc.smtp_code} {text}"
        else:
            detail = str(exc) or type(exc).__name__
        if self._password:
            detail = detail.replace(self._password, "***")
        return f"SMTP {self._host}:{self._port}: {' '.join(detail.split())}"


class FileSender:
    """See `Sender`. Writes each message into ``folder`` as ``<sha1(Message-ID)[:16]>.eml``.

    The default when no SMTP host is configured: the operator (or a test) can
    read what would have been sent. The file name depends on the Message-ID
    only, so sending the same message again (a retry after a crash) replaces
    the file instead of adding one; it is written to a temporary file and
    renamed, so a reader never sees half a message. The bytes are written as
    given; the envelope is not kept.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"FileSender({str(self.folder)!r})"

    def send(self, raw: bytes, *, envelope_from: str, recipients: Sequence[str]) -> None:
        """Write ``raw`` atomically; a disk failure is a `TemporarySendError`."""
        try:
            self._write(self.path_for(raw), raw)
        except OSError as exc:
            raise TemporarySendError(
                f"cannot write to {self.folder}: {exc}", unreachable=True
            ) from exc

    def check(self) -> None:
        """The outbox folder exists (or can be made) and is writable."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".mailbot-doctor"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise TemporarySendError(f"outbox folder {self.folder}: {exc.strerror}") from None

    def path_for(self, raw: bytes) -> Path:
        """Where ``raw`` is (or will be) written: named by its Message-ID, else by its bytes."""
        message_id = _message_id(raw)
        key = message_id.encode("utf-8", "surrogateescape") if message_id else raw
        return self.folder / f"{hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]}.eml"

    def _write(self, path: Path, raw: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(raw)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# -- helpers --------------------------------------------------------------


def _quit(client: smtplib.SMTP) -> None:
    """QUIT politely; once DATA got its 250 a failing QUIT must not turn into a resend."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _mail_options(client: smtplib.SMTP, addresses: list[str]) -> list[str]:
    """``SMTPUTF8`` (RFC 6531) when an address is not ASCII and the server offers it."""
    if all(address.isascii() for address in addresses):
        return []
    if client.has_extn("smtputf8"):
        return ["SMTPUTF8"]
    raise PermanentSendError("a non-ASCII address needs SMTPUTF8 (RFC 6531); the server lacks it")


def _by_code(code: int, detail: str) -> SendError:
    """5xx is permanent; 4xx temporary (421 means the server is closing: unreachable)."""
    if 500 <= code < 600:
        return PermanentSendError(detail)
    return TemporarySendError(detail, unreachable=code == 421 or not 400 <= code < 500)


def _all_refused(refused: Refused) -> SendError:
    """Every RCPT refused: permanent only if every refusal was 5xx."""
    codes = sorted({code for code, _ in refused.values()})
    detail = f"all {len(refused)} recipients refused ({', '.join(map(str, codes))})"
    if all(500 <= code < 600 for code in codes):
        return PermanentSendError(detail)
    return TemporarySendError(detail)


def _warn_refused(refused: Refused) -> None:
    """Log recipients refused while others were accepted; addresses only at DEBUG."""
    codes = ", ".join(sorted({str(code) for code, _ in refused.values()}))
    log.warning("sent, but %d recipient(s) refused (%s)", len(refused), codes)
    for address, (code, reply) in refused.items():
        log.debug("refused %s: %d %s", address, code, reply.decode(errors="replace"))


def _message_id(raw: bytes) -> str:
    """The Message-ID header of ``raw`` (headers only are parsed), or ""."""
    headers = email.parser.BytesHeaderParser().parsebytes(raw)
    return str(headers.get("Message-ID", "")).strip()
