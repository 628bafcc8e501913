"""OAuth 2.0 tokens (``mailbot.shell.oauth``) and XOAUTH2 logins over IMAP and SMTP.

A local token endpoint (``http.server`` in a thread) stands in for Google's
and Microsoft's: it answers the refresh_token and client_credentials grants
(RFC 6749 sections 6 and 4.4) over HTTPS with a throw-away CA, counts the
requests, can refuse with ``invalid_grant``, and answers token introspection
(RFC 7662) over plain HTTP for Dovecot's ``oauth2`` passdb, so that a real
Dovecot accepts exactly the access tokens this endpoint issued and has not
revoked.  SMTP uses aiosmtpd with an ``auth_XOAUTH2`` handler method.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.smtp import SMTP, AuthResult

from mailbot.errors import ConfigError, SourceError
from mailbot.shell.clock import FixedClock
from mailbot.shell.imap import ImapSource
from mailbot.shell.oauth import (
    REFRESH_MARGIN,
    OAuthSettings,
    TokenProvider,
    oauth_settings_from_env,
    xoauth2_string,
)
from mailbot.shell.smtp import SmtpSender, TemporarySendError
from tests.dovecot import (
    USER,
    Dovecot,
    TlsFiles,
    _free_port,
    _make_root,
    _write_config,
    make_tls_files,
)
from tests.smtpd import Handler, SmtpServer
from tests.smtpd import TlsFiles as SmtpTlsFiles

HOST = "127.0.0.1"
CLIENT_ID = "1234-abcd.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-client-secret-value"
REFRESH_TOKEN = "1//refresh-token-value"
T0 = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)


# -- the local token endpoint ------------------------------------------------------


@dataclass
class Endpoint:
    """What the token endpoint has done and will do; shared by its threads."""

    lifetime: int = 3600
    refuse: str = ""  # an RFC 6749 5.2 error code to answer /token with
    status: int = 0  # an HTTP status to answer /token with (no JSON body)
    raw: bytes = b""  # a 200 answer's body instead of a token
    user: str = USER
    requests: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    active: dict[str, bool] = field(default_factory=dict)  # access token -> not revoked
    introspected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self) -> str:
        token = f"ya29.test-{len(self.active) + 1}-{secrets.token_hex(8)}"
        self.active[token] = True
        return token

    def revoke_all(self) -> None:
        """Every token issued so far is now expired or revoked, as the server sees it."""
        with self.lock:
            for token in self.active:
                self.active[token] = False

    @property
    def issued(self) -> list[str]:
        with self.lock:
            return list(self.active)


class _Handler(BaseHTTPRequestHandler):
    endpoint: ClassVar[Endpoint]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no access log on stderr."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("ascii")
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        if self.path == "/token":
            self._token(form)
        elif self.path == "/introspect":
            self._introspect(form)
        elif self.path == "/moved":
            self._answer(307, {}, location="http://127.0.0.1:1/token")
        else:
            self._answer(404, {"error": "not_found"})

    def _token(self, form: dict[str, str]) -> None:
        ep = self.endpoint
        with ep.lock:
            ep.requests.append(form)
            ep.headers.append({k.lower(): v for k, v in self.headers.items()})
            if ep.status:
                self._answer(ep.status, None)
            elif ep.raw:
                self._answer(200, None, raw=ep.raw)
            elif ep.refuse:
                description = f"Token has been expired or revoked. {form.get('refresh_token')}"
                self._answer(400, {"error": ep.refuse, "error_description": description})
            else:
                reply = {"access_token": ep.issue(), "token_type": "Bearer"}
                self._answer(200, {**reply, "expires_in": ep.lifetime})

    def _introspect(self, form: dict[str, str]) -> None:
        """RFC 7662 token introspection, as Dovecot's ``introspection_mode = post`` asks."""
        ep = self.endpoint
        token = form.get("token", "")
        with ep.lock:
            ep.introspected.append(token)
            active = ep.active.get(token, False)
        reply: dict[str, Any] = {"active": active}
        if active:
            reply["username"] = ep.user
        self._answer(200, reply)

    def _answer(
        self, status: int, data: dict[str, Any] | None, location: str = "", raw: bytes = b""
    ) -> None:
        payload = raw if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(payload)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[_Handler], context: ssl.SSLContext | None) -> None:
        super().__init__((HOST, 0), handler)
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.context is None:
            return sock, address
        try:
            return self.context.wrap_socket(sock, server_side=True), address
        except (ssl.SSLError, OSError):
            sock.close()
            raise


@dataclass
class TokenServer:
    """The endpoint on HTTPS (``url``, for ``TokenProvider``) and HTTP (for Dovecot)."""

    endpoint: Endpoint
    tls: TlsFiles
    servers: list[_TlsServer]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.servers[0].server_address[1]}/token"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.servers[1].server_address[1]}/introspect"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls.ca_file))

    def provider(self, settings: OAuthSettings | None = None, **kwargs: Any) -> TokenProvider:
        settings = settings or google(self.url)
        return TokenProvider(settings, ssl_context=self.context(), timeout=5, **kwargs)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: apt-get install openssl")
    return make_tls_files(tmp_path_factory.mktemp("oauth-tls"))


@pytest.fixture
def token_server(tls_files: TlsFiles) -> Iterator[TokenServer]:
    endpoint = Endpoint()
    handler = type("Handler", (_Handler,), {"endpoint": endpoint})
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tls_files.cert_file, tls_files.key_file)
    servers = [_TlsServer(handler, server_context), _TlsServer(handler, None)]
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}) for s in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield TokenServer(endpoint, tls_files, servers)
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables; the local endpoint must be reached directly."""
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


def google(url: str = "") -> OAuthSettings:
    return OAuthSettings(
        provider="google",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        token_url=url,
    )


def microsoft(url: str = "") -> OAuthSettings:
    return OAuthSettings(
        provider="microsoft",
        client_id="00000000-1111-2222-3333-444444444444",
        client_secret=CLIENT_SECRET,
        tenant="thcspomlot.edu.vn",
        token_url=url,
    )


def assert_no_secrets(text: str, *tokens: str) -> None:
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, *tokens):
        assert secret not in text


# -- settings ------------------------------------------------------------------------


def test_defaults_per_provider() -> None:
    g, m = google(), microsoft()
    assert (g.scope, g.token_url) == (
        "https://mail.google.com/",
        "https://oauth2.googleapis.com/token",
    )
    assert m.scope == "https://outlook.office365.com/.default"
    assert m.token_url == "https://login.microsoftonline.com/thcspomlot.edu.vn/oauth2/v2.0/token"
    assert (g.grant, m.grant) == ("refresh_token", "client_credentials")


def test_repr_hides_secrets() -> None:
    assert_no_secrets(repr(google()))
    assert_no_secrets(repr(TokenProvider(google())))


def test_settings_check_what_the_provider_needs() -> None:
    with pytest.raises(ConfigError, match="refresh_token not set"):
        OAuthSettings(provider="google", client_id="c", client_secret="s")
    with pytest.raises(ConfigError, match="tenant not set"):
        OAuthSettings(provider="microsoft", client_id="c", client_secret="s")
    with pytest.raises(ConfigError, match="tenant 'a/b'"):
        OAuthSettings(provider="microsoft", client_id="c", client_secret="s", tenant="a/b")
    with pytest.raises(ConfigError, match="use google or microsoft"):
        OAuthSettings(provider="yahoo", client_id="c")  # type: ignore[arg-type]


def test_from_env_google_with_secret_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(CLIENT_SECRET + "\n")
    (tmp_path / "refresh").write_text(REFRESH_TOKEN + "\n")
    settings = oauth_settings_from_env(
        {
            "MAILBOT_OAUTH_PROVIDER": "Google",
            "MAILBOT_OAUTH_CLIENT_ID": CLIENT_ID,
            "MAILBOT_OAUTH_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
            "MAILBOT_OAUTH_REFRESH_TOKEN_FILE": str(tmp_path / "refresh"),
        }
    )
    assert settings == google()


def test_from_env_microsoft() -> None:
    settings = oauth_settings_from_env(
        {
            "MAILBOT_OAUTH_PROVIDER": "microsoft",
            "MAILBOT_OAUTH_CLIENT_ID": "00000000-1111-2222-3333-444444444444",
            "MAILBOT_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "MAILBOT_OAUTH_TENANT": "thcspomlot.edu.vn",
            "MAILBOT_OAUTH_TOKEN_URL": "https://127.0.0.1:1/token",
            "MAILBOT_OAUTH_SCOPE": "https://outlook.office365.com/.default",
        }
    )
    assert settings == microsoft("https://127.0.0.1:1/token")


def test_from_env_unset_is_none() -> None:
    assert oauth_settings_from_env({"MAILBOT_IMAP_HOST": "imap.gmail.com"}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MAILBOT_OAUTH_CLIENT_ID": "c"},
            "MAILBOT_OAUTH_CLIENT_ID set but MAILBOT_OAUTH_PROVIDER",
        ),
        ({"MAILBOT_OAUTH_PROVIDER": "yahoo"}, "PROVIDER is 'yahoo'; expected google or microsoft"),
        (
            {"MAILBOT_OAUTH_PROVIDER": "google", "MAILBOT_OAUTH_CLIENT_ID": "c"},
            r"set MAILBOT_OAUTH_CLIENT_SECRET \(or MAILBOT_OAUTH_CLIENT_SECRET_FILE\), "
            r"MAILBOT_OAUTH_REFRESH_TOKEN \(or MAILBOT_OAUTH_REFRESH_TOKEN_FILE\)",
        ),
        (
            {
                "MAILBOT_OAUTH_PROVIDER": "microsoft",
                "MAILBOT_OAUTH_CLIENT_ID": "c",
                "MAILBOT_OAUTH_CLIENT_SECRET": "s",
            },
            "set MAILBOT_OAUTH_TENANT$",
        ),
        (
            {
                "MAILBOT_OAUTH_PROVIDER": "microsoft",
                "MAILBOT_OAUTH_CLIENT_ID": "c",
                "MAILBOT_OAUTH_CLIENT_SECRET": "s",
                "MAILBOT_OAUTH_TENANT": "t",
                "MAILBOT_OAUTH_REFRESH_TOKEN": "r",
            },
            "MAILBOT_OAUTH_REFRESH_TOKEN is for google",
        ),
        (
            {
                "MAILBOT_OAUTH_PROVIDER": "google",
                "MAILBOT_OAUTH_CLIENT_SECRET_FILE": "/nonexistent/s",
            },
            "MAILBOT_OAUTH_CLIENT_SECRET_FILE: cannot read /nonexistent/s: No such file",
        ),
    ],
)
def test_from_env_names_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        oauth_settings_from_env(env)


def test_https_required_and_http_only_to_loopback_when_allowed() -> None:
    with pytest.raises(ConfigError, match="use https://"):
        TokenProvider(google("http://127.0.0.1:8080/token"))
    with pytest.raises(ConfigError, match="use https://"):
        TokenProvider(google("http://oauth2.example/token"), allow_http_for_loopback=True)
    TokenProvider(google("http://127.0.0.1:8080/token"), allow_http_for_loopback=True)


def test_xoauth2_string() -> None:
    """The example in Google's XOAUTH2 protocol document, byte for byte."""
    text = xoauth2_string("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    assert base64.b64encode(text.encode()) == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhk"
        b"SFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


# -- the token endpoint ----------------------------------------------------------------


def test_google_refresh_token_grant_fields(token_server: TokenServer) -> None:
    """RFC 6749 section 6, form-encoded over HTTPS."""
    token = token_server.provider().token(T0)
    assert token == token_server.endpoint.issued[0]
    [form] = token_server.endpoint.requests
    assert form == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "scope": "https://mail.google.com/",
    }
    headers = token_server.endpoint.headers[0]
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["accept"] == "application/json"


def test_microsoft_client_credentials_grant_fields(token_server: TokenServer) -> None:
    """RFC 6749 section 4.4.2: no refresh token, the ``.default`` scope of Exchange Online."""
    token_server.provider(microsoft(token_server.url)).token(T0)
    [form] = token_server.endpoint.requests
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "00000000-1111-2222-3333-444444444444",
        "client_secret": CLIENT_SECRET,
        "scope": "https://outlook.office365.com/.default",
    }


def test_token_is_cached(token_server: TokenServer) -> None:
    provider = token_server.provider()
    first = provider.token(T0)
    assert provider.token(T0 + timedelta(minutes=30)) == first
    assert len(token_server.endpoint.requests) == 1
    assert provider.expires_at == T0 + timedelta(hours=1)


def test_token_is_refreshed_when_less_than_five_minutes_remain(token_server: TokenServer) -> None:
    clock = FixedClock(T0)
    provider = token_server.provider(clock=clock)
    first = provider.token()
    clock.at = T0 + timedelta(hours=1) - REFRESH_MARGIN - timedelta(seconds=1)
    assert provider.token() == first
    clock.at += timedelta(seconds=2)
    second = provider.token()
    assert second != first
    assert len(token_server.endpoint.requests) == 2
    assert provider.expires_at == clock.at + timedelta(hours=1)


def test_invalidate_fetches_anew(token_server: TokenServer) -> None:
    provider = token_server.provider()
    first = provider.token(T0)
    provider.invalidate()
    assert provider.token(T0) != first


def test_invalid_grant_is_a_clear_source_error_without_secrets(token_server: TokenServer) -> None:
    token_server.endpoint.refuse = "invalid_grant"
    with pytest.raises(SourceError) as caught:
        token_server.provider().token(T0)
    text = str(caught.value)
    assert text.startswith(
        "OAuth token refresh failed: invalid_grant — the refresh token was revoked or expired; "
        "create a new one"
    )
    assert "Token has been expired or revoked." in text  # the provider's description
    assert_no_secrets(text)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_invalid_client_hint(token_server: TokenServer) -> None:
    token_server.endpoint.refuse = "invalid_client"
    with pytest.raises(SourceError, match="invalid_client — the client id or client secret"):
        token_server.provider(microsoft(token_server.url)).token(T0)


def test_server_error_without_json(token_server: TokenServer) -> None:
    token_server.endpoint.status = 503
    with pytest.raises(SourceError, match="HTTP 503 server error; try again later"):
        token_server.provider().token(T0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html>proxy login</html>", "the token endpoint's answer is not JSON"),
        (b'{"token_type": "Bearer"}', "the token endpoint's answer has no access_token"),
        (b'{"access_token": "x", "token_type": "mac"}', "XOAUTH2 needs a Bearer token"),
    ],
)
def test_unusable_answers(token_server: TokenServer, raw: bytes, message: str) -> None:
    token_server.endpoint.raw = raw
    with pytest.raises(SourceError, match=message):
        token_server.provider().token(T0)


def test_expires_in_as_a_string(token_server: TokenServer) -> None:
    """Azure AD v1 endpoints send ``"expires_in": "3599"``."""
    token_server.endpoint.raw = (
        b'{"access_token": "x", "token_type": "bearer", "expires_in": "600"}'
    )
    provider = token_server.provider()
    assert provider.token(T0) == "x"
    assert provider.expires_at == T0 + timedelta(seconds=600)


def test_redirect_is_not_followed(token_server: TokenServer) -> None:
    moved = google(token_server.url.replace("/token", "/moved"))
    with pytest.raises(SourceError, match="HTTP 307 refused"):
        token_server.provider(moved).token(T0)
    assert token_server.endpoint.requests == []


def test_untrusted_certificate(token_server: TokenServer) -> None:
    provider = TokenProvider(google(token_server.url), timeout=5)  # the system's CAs
    with pytest.raises(SourceError, match="TLS certificate not trusted"):
        provider.token(T0)
    assert token_server.endpoint.requests == []


def test_unreachable_endpoint() -> None:
    provider = TokenProvider(google(f"https://127.0.0.1:{_free_port()}/token"), timeout=5)
    with pytest.raises(SourceError, match=r"cannot reach the token endpoint: .*refused"):
        provider.token(T0)


# -- IMAP: Dovecot with an oauth2 passdb -------------------------------------------------

_DOVECOT_OAUTH = """
# Added by tests/shell/test_oauth.py: XOAUTH2 and OAUTHBEARER (RFC 7628),
# checked against the test token endpoint by introspection (RFC 7662).
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {args}
}}
"""

_OAUTH2_ARGS = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


@pytest.fixture
def dovecot_oauth(dovecot_binary: str, token_server: TokenServer) -> Iterator[Dovecot]:
    """A fresh Dovecot (``tests/dovecot.py``'s config) that also takes XOAUTH2 tokens
    issued by ``token_server``."""
    root = _make_root()
    server = Dovecot(root=root, port=_free_port(), ssl_port=_free_port())
    _write_config(root, server.port, server.ssl_port, None)
    args = root / "dovecot-oauth2.conf.ext"
    args.write_text(_OAUTH2_ARGS.format(url=token_server.introspection_url))
    with (root / "dovecot.conf").open("a") as conf:
        conf.write(_DOVECOT_OAUTH.format(args=args))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def imap_connect(server: Dovecot, provider: TokenProvider) -> ImapSource:
    return ImapSource.connect(
        server.host, server.port, "none", server.user, "", timeout=10, token_provider=provider
    )


@pytest.mark.imap
def test_imap_xoauth2_login_and_select(dovecot_oauth: Dovecot, token_server: TokenServer) -> None:
    dovecot_oauth.append("INBOX", b"Subject: hi\r\n\r\nbody\r\n")
    provider = token_server.provider()
    with imap_connect(dovecot_oauth, provider) as source:
        assert source.select() > 0
        assert source.uids_after(0) == [1]
    assert token_server.endpoint.introspected == token_server.endpoint.issued


@pytest.mark.imap
def test_imap_revoked_token_is_refused_then_replaced(
    dovecot_oauth: Dovecot, token_server: TokenServer
) -> None:
    provider = token_server.provider()
    token = provider.token()
    token_server.endpoint.revoke_all()
    with pytest.raises(SourceError, match=r"XOAUTH2 login as 'truyenthong@.*' refused") as caught:
        imap_connect(dovecot_oauth, provider)
    assert_no_secrets(str(caught.value), token)
    # The refused token was dropped: the next connect (the daemon's retry) fetches a new one.
    with imap_connect(dovecot_oauth, provider) as source:
        source.select()
    assert len(token_server.endpoint.requests) == 2


@pytest.mark.imap
def test_imap_expired_token_is_refreshed_on_reconnect(
    dovecot_oauth: Dovecot, token_server: TokenServer
) -> None:
    clock = FixedClock(T0)
    provider = token_server.provider(clock=clock)
    with imap_connect(dovecot_oauth, provider) as source:
        source.select()
    clock.at += timedelta(minutes=56)  # 4 minutes left: refresh before the server says no
    token_server.endpoint.revoke_all()  # ... which it would, once the hour is over
    with imap_connect(dovecot_oauth, provider) as source:
        source.select()
    assert len(token_server.endpoint.requests) == 2
    assert token_server.endpoint.introspected == token_server.endpoint.issued


@pytest.mark.imap
def test_imap_token_endpoint_failure_is_source_error(
    dovecot_oauth: Dovecot, token_server: TokenServer
) -> None:
    token_server.endpoint.refuse = "invalid_grant"
    with pytest.raises(SourceError, match="invalid_grant"):
        imap_connect(dovecot_oauth, token_server.provider())
    assert token_server.endpoint.introspected == []


# -- SMTP: aiosmtpd with AUTH XOAUTH2 ------------------------------------------------------


class XOAuth2Handler(Handler):
    """``tests.smtpd.Handler`` plus AUTH XOAUTH2 checked against the token endpoint."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.require_auth = True
        self.logins: list[str] = []
        self.error_answers: list[bytes] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """Google's XOAUTH2 over SMTP: on failure a 334 JSON error, the client's empty
        answer, then 535."""
        if len(args) < 2:
            return AuthResult(success=False, handled=False, message="501 5.5.2 no initial response")
        fields = base64.b64decode(args[1]).decode().split("\x01")
        user = fields[0].removeprefix("user=")
        token = fields[1].removeprefix("auth=Bearer ")
        with self.endpoint.lock:
            valid = self.endpoint.active.get(token, False) and fields[2:] == ["", ""]
        if valid:
            self.logins.append(user)
            return AuthResult(success=True)
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        answer = await server.challenge_auth(json.dumps(error))
        self.error_answers.append(answer if isinstance(answer, bytes) else b"?")
        return AuthResult(success=False, handled=False)  # handled=True would send no 535


@pytest.fixture
def smtpd_oauth(smtpd_tls_files: SmtpTlsFiles, token_server: TokenServer) -> Iterator[SmtpServer]:
    server = SmtpServer(tls=smtpd_tls_files, handler=XOAuth2Handler(token_server.endpoint))
    server.start()
    try:
        yield server
    finally:
        server.stop()


RAW = b"From: a@thcspomlot.edu.vn\r\nTo: b@thcspomlot.edu.vn\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n"


def smtp_sender(server: SmtpServer, provider: TokenProvider) -> SmtpSender:
    return SmtpSender(
        server.host,
        server.port,
        "starttls",
        USER,
        ssl_context=server.client_context(),
        timeout=10,
        token_provider=provider,
    )


def test_smtp_xoauth2_after_starttls(smtpd_oauth: SmtpServer, token_server: TokenServer) -> None:
    provider = token_server.provider()
    sender = smtp_sender(smtpd_oauth, provider)
    sender.send(RAW, envelope_from="", recipients=["b@thcspomlot.edu.vn"])
    sender.send(RAW, envelope_from="", recipients=["b@thcspomlot.edu.vn"])
    [first, second] = smtpd_oauth.received
    assert first.authenticated and first.tls and second.authenticated
    handler = smtpd_oauth.handler
    assert isinstance(handler, XOAuth2Handler)
    assert handler.logins == [USER, USER]
    assert len(token_server.endpoint.requests) == 1  # the token was reused


def test_smtp_refused_token_is_unreachable_and_dropped(
    smtpd_oauth: SmtpServer, token_server: TokenServer
) -> None:
    provider = token_server.provider()
    token = provider.token()
    token_server.endpoint.revoke_all()
    with pytest.raises(TemporarySendError, match="535") as caught:
        smtp_sender(smtpd_oauth, provider).send(RAW, envelope_from="", recipients=["b@x.example"])
    assert caught.value.unreachable
    assert_no_secrets(str(caught.value), token)
    handler = smtpd_oauth.handler
    assert isinstance(handler, XOAuth2Handler)
    assert handler.error_answers == [b""]  # answered the JSON challenge with an empty line
    smtp_sender(smtpd_oauth, provider).send(RAW, envelope_from="", recipients=["b@x.example"])
    assert len(smtpd_oauth.received) == 1


def test_smtp_token_endpoint_failure_is_unreachable(
    smtpd_oauth: SmtpServer, token_server: TokenServer
) -> None:
    token_server.endpoint.refuse = "invalid_grant"
    with pytest.raises(TemporarySendError, match="invalid_grant — the refresh token") as caught:
        smtp_sender(smtpd_oauth, token_server.provider()).send(
            RAW, envelope_from="", recipients=["b@x.example"]
        )
    assert caught.value.unreachable
    assert_no_secrets(str(caught.value))
    assert smtpd_oauth.received == []
