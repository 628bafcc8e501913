"""OAuth 2.0 access tokens for IMAP and SMTP: XOAUTH2 for Gmail and Microsoft 365.

Google Workspace and Exchange Online refuse plain passwords on most accounts;
both accept a short-lived OAuth *access token* in the SASL ``XOAUTH2``
mechanism (Google, "OAuth 2.0 Mechanism", developers.google.com/gmail/imap/
xoauth2-protocol).  ``XOAUTH2`` is the pre-standard form of RFC 7628's
``OAUTHBEARER``; Gmail offers both, Exchange Online only ``XOAUTH2``, so that
is the one used here.

How the access token is obtained (RFC 6749):

* ``google``: the *refresh token* grant (RFC 6749 section 6), with a refresh
  token an administrator obtained once for the mailbox (``deploy/oauth.md``).
* ``microsoft``: the *client credentials* grant (RFC 6749 section 4.4), the
  app-only access Exchange Online offers for IMAP and SMTP: no user signs
  in, the Entra application is granted ``IMAP.AccessAsApp`` /
  ``SMTP.SendAsApp`` and then given rights on the one mailbox.

:class:`TokenProvider` caches the token and asks for a new one when less than
:data:`REFRESH_MARGIN` remains.  Every failure is a :class:`SourceError`
whose text names the provider's error code and what to do, and never holds
the client secret, the refresh token or an access token.

Only the standard library is used (``urllib.request``); HTTPS with
certificate verification is required, plain ``http://`` only for a loopback
host and only when asked (``allow_http_for_loopback``, for tests).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import IO, Any, Literal, get_args

from mailbot.errors import ConfigError, SourceError
from mailbot.shell.clock import Clock, SystemClock
from mailbot.shell.imap import is_loopback

__all__ = [
    "REFRESH_MARGIN",
    "OAuthSettings",
    "Provider",
    "TokenProvider",
    "oauth_settings_from_env",
    "xoauth2_string",
]

log = logging.getLogger(__name__)

Provider = Literal["google", "microsoft"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)

GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"

REFRESH_MARGIN = timedelta(minutes=5)
"""Ask for a new access token when less than this remains of the old one."""

DEFAULT_LIFETIME = 3600
"""Seconds assumed when a token response has no ``expires_in`` (RFC 6749
section 5.1 only RECOMMENDS it; Google and Microsoft both send it)."""

MAX_RESPONSE_BYTES = 1 << 20

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")

_HINTS: dict[str, str] = {
    "invalid_grant": "the refresh token was revoked or expired; create a new one (deploy/oauth.md)",
    "invalid_client": "the client id or client secret is wrong, or the secret expired; "
    "check MAILBOT_OAUTH_CLIENT_ID and the secret",
    "unauthorized_client": "this OAuth client may not use this grant; check the app's "
    "type and permissions (deploy/oauth.md)",
    "invalid_scope": "the scope is not granted to this client; check MAILBOT_OAUTH_SCOPE "
    "and the app's API permissions",
    "invalid_request": "the token endpoint rejected the request; check the tenant, "
    "MAILBOT_OAUTH_TOKEN_URL and MAILBOT_OAUTH_SCOPE",
    "access_denied": "the administrator has not granted (or has revoked) consent",
}


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """Which provider, which OAuth client, and where to ask for tokens.

    ``scope`` and ``token_url`` default from the provider (Microsoft's URL
    names the ``tenant``); ``token_url`` is overridable for tests.  The
    secrets are left out of ``repr``.
    """

    provider: Provider
    client_id: str
    client_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    tenant: str = ""
    scope: str = ""
    token_url: str = ""

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(f"OAuth provider {self.provider!r}: use google or microsoft")
        missing = self.missing()
        if missing:
            raise ConfigError(f"OAuth ({self.provider}): {', '.join(missing)} not set")
        if self.provider == "microsoft" and not _TENANT.fullmatch(self.tenant):
            raise ConfigError(
                f"OAuth tenant {self.tenant!r}: use the directory (tenant) id or the "
                "primary domain, e.g. thcspomlot.edu.vn"
            )
        if not self.scope:
            scope = GOOGLE_SCOPE if self.provider == "google" else MICROSOFT_SCOPE
            object.__setattr__(self, "scope", scope)
        if not self.token_url:
            url = GOOGLE_TOKEN_URL if self.provider == "google" else MICROSOFT_TOKEN_URL
            object.__setattr__(self, "token_url", url.format(tenant=self.tenant))

    def missing(self) -> list[str]:
        """The fields this provider needs that are empty (``client_id``…)."""
        return [name for name in _needed(self.provider) if not getattr(self, name)]

    @property
    def grant(self) -> str:
        """``refresh_token`` (RFC 6749 section 6) or ``client_credentials`` (section 4.4)."""
        return "refresh_token" if self.provider == "google" else "client_credentials"

    def form(self) -> dict[str, str]:
        """The token request's form fields (RFC 6749 sections 6 and 4.4.2)."""
        fields = {
            "grant_type": self.grant,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
        }
        if self.provider == "google":
            fields["refresh_token"] = self.refresh_token
        return fields


def oauth_settings_from_env(
    env: Mapping[str, str], prefix: str = "MAILBOT_OAUTH_"
) -> OAuthSettings | None:
    """``OAuthSettings`` from ``{prefix}PROVIDER``, ``_CLIENT_ID``… or None when unset.

    Secrets come from ``{prefix}CLIENT_SECRET`` / ``{prefix}REFRESH_TOKEN`` or
    from files named by ``…_FILE`` (read and stripped).  Raises
    ``ConfigError`` naming the variable that is missing or wrong.
    """
    names = [key for key in env if key.startswith(prefix) and env[key]]
    provider = env.get(prefix + "PROVIDER", "").strip().lower()
    if not provider:
        if names:
            raise ConfigError(
                f"{', '.join(sorted(names))} set but {prefix}PROVIDER is not: "
                "set it to google or microsoft"
            )
        return None
    if provider not in PROVIDERS:
        raise ConfigError(f"{prefix}PROVIDER is {provider!r}; expected google or microsoft")
    values = {
        "client_id": env.get(prefix + "CLIENT_ID", "").strip(),
        "client_secret": _secret(env, prefix + "CLIENT_SECRET"),
        "refresh_token": _secret(env, prefix + "REFRESH_TOKEN"),
        "tenant": env.get(prefix + "TENANT", "").strip(),
        "scope": env.get(prefix + "SCOPE", "").strip(),
        "token_url": env.get(prefix + "TOKEN_URL", "").strip(),
    }
    if provider == "microsoft" and values["refresh_token"]:
        raise ConfigError(
            f"{prefix}REFRESH_TOKEN is for google; microsoft uses the client credentials "
            f"grant ({prefix}TENANT, {prefix}CLIENT_ID, {prefix}CLIENT_SECRET): unset it"
        )
    chosen: Provider = "google" if provider == "google" else "microsoft"
    missing = [_env_name(prefix, name) for name in _needed(chosen) if not values[name]]
    if missing:
        raise ConfigError(f"{prefix}PROVIDER is {provider}: set {', '.join(missing)}")
    return OAuthSettings(provider=chosen, **values)


def _needed(provider: Provider) -> tuple[str, ...]:
    if provider == "google":
        return ("client_id", "client_secret", "refresh_token")
    return ("client_id", "client_secret", "tenant")


def _env_name(prefix: str, name: str) -> str:
    key = prefix + name.upper()
    return f"{key} (or {key}_FILE)" if name in ("client_secret", "refresh_token") else key


def _secret(env: Mapping[str, str], key: str) -> str:
    if env.get(key):
        return env[key].strip()
    name = env.get(key + "_FILE", "")
    if not name:
        return ""
    try:
        return Path(name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}_FILE: cannot read {name}: {exc.strerror}") from None


def xoauth2_string(user: str, token: str) -> str:
    """The SASL ``XOAUTH2`` initial client response, before base64.

    ``user=<user>^Aauth=Bearer <token>^A^A`` (Google's XOAUTH2 protocol
    document; RFC 7628 section 3.1 gives OAUTHBEARER the same key/value form
    with a GS2 header in front).
    """
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A token endpoint does not redirect; following one could leave HTTPS."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class TokenProvider:
    """Fetches, caches and refreshes the access token for one mailbox.

    ``token()`` returns the cached access token while more than
    ``REFRESH_MARGIN`` of its ``expires_in`` remains, else asks the token
    endpoint for a new one (one request at a time: thread-safe).  After a
    server refused a token, ``invalidate()`` makes the next call fetch anew.

    ``ssl_context`` verifies the endpoint's certificate (default: the
    system's CAs); ``clock`` tells the time (tests advance it).
    """

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30,
        clock: Clock | None = None,
        allow_http_for_loopback: bool = False,
    ) -> None:
        _check_url(settings.token_url, allow_http_for_loopback)
        self.settings = settings
        self._context = ssl_context or ssl.create_default_context()
        self._timeout = timeout
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"TokenProvider({self.settings.provider}, {self.settings.token_url})"

    @property
    def expires_at(self) -> datetime | None:
        """When the cached token expires (None: none cached)."""
        return self._expires_at

    def token(self, now: datetime | None = None) -> str:
        """A valid access token, fetched if none is cached or it is about to expire.

        Raises ``SourceError`` when the endpoint cannot be reached or refuses.
        """
        with self._lock:
            now = now or self._clock.now()
            if self._expires_at is None or self._expires_at - now < REFRESH_MARGIN:
                self._token, lifetime = self._fetch()
                self._expires_at = now + timedelta(seconds=lifetime)
                log.info(
                    "OAuth access token obtained (%s, %s grant), valid for %d s",
                    self.settings.provider,
                    self.settings.grant,
                    lifetime,
                )
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the server refused it): the next ``token()`` fetches."""
        with self._lock:
            self._token, self._expires_at = "", None

    # -- the request ----------------------------------------------------------

    def _fetch(self) -> tuple[str, int]:
        """POST the grant (RFC 6749 section 4.4.2 or 6); return (token, lifetime)."""
        form = self.settings.form()
        request = urllib.request.Request(
            self.settings.token_url,
            data=urllib.parse.urlencode(form).encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self._context), _NoRedirect()
        )
        try:
            with opener.open(request, timeout=self._timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            raise self._refused(exc) from None
        except ssl.SSLCertVerificationError as exc:
            raise self._error(f"TLS certificate not trusted: {exc.verify_message}") from None
        except urllib.error.URLError as exc:
            raise self._error(f"cannot reach the token endpoint: {_reason(exc)}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise self._error(f"cannot reach the token endpoint: {exc}") from None
        return self._parse(body)

    def _parse(self, body: bytes) -> tuple[str, int]:
        """The access token and its lifetime from a RFC 6749 section 5.1 response."""
        try:
            data = json.loads(body)
        except ValueError:
            raise self._error("the token endpoint's answer is not JSON") from None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise self._error("the token endpoint's answer has no access_token")
        kind = str(data.get("token_type", "Bearer"))
        if kind.lower() != "bearer":
            raise self._error(f"token_type is {kind!r}; XOAUTH2 needs a Bearer token")
        return token, _lifetime(data.get("expires_in"))

    def _refused(self, exc: urllib.error.HTTPError) -> SourceError:
        """An HTTP error: the RFC 6749 section 5.2 ``error`` code and a hint."""
        try:
            body = exc.read(MAX_RESPONSE_BYTES)
        except OSError:
            body = b""
        finally:
            exc.close()
        code, description = _error_fields(body)
        if not code:
            kind = "server error; try again later" if exc.code >= 500 else "refused"
            return self._error(f"HTTP {exc.code} {kind}")
        hint = _HINTS.get(code, "see the provider's error description")
        detail = f" ({self._scrub(description)})" if description else ""
        return self._error(f"{code} — {hint}{detail}")

    def _error(self, text: str) -> SourceError:
        where = f"{self.settings.provider} {self.settings.token_url}"
        return SourceError(f"OAuth token refresh failed: {self._scrub(text)} [{where}]")

    def _scrub(self, text: str) -> str:
        """``text`` without any secret or token, on one line, at most 300 characters."""
        s = self.settings
        for secret in (s.client_secret, s.refresh_token, self._token):
            if secret:
                text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= 300 else text[:297] + "..."


def _lifetime(value: Any) -> int:
    """``expires_in`` as seconds (some endpoints send a string), else the default."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return DEFAULT_LIFETIME


def _error_fields(body: bytes) -> tuple[str, str]:
    """(``error``, first line of ``error_description``) from a JSON error body."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    code, description = data.get("error"), data.get("error_description")
    code = code if isinstance(code, str) and re.fullmatch(r"[\w.-]{1,64}", code) else ""
    description = description if isinstance(description, str) else ""
    lines = description.strip().splitlines()
    return code, lines[0] if lines else ""


def _reason(exc: urllib.error.URLError) -> str:
    reason = exc.reason
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {reason.verify_message}"
    return str(reason)


def _check_url(url: str, allow_http_for_loopback: bool) -> None:
    """HTTPS only; ``http://`` only to a loopback host and only when allowed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    loopback = bool(parts.hostname) and is_loopback(parts.hostname or "")
    if parts.scheme == "http" and loopback and allow_http_for_loopback:
        return
    raise ConfigError(
        f"OAuth token URL {url!r}: use https:// (plain http is allowed only to a "
        "loopback host, for tests)"
    )
