"""The OAuth provider base class: Authlib does the protocol; subclasses declare URLs and identity."""
from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from requests import RequestException
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from integration.config import CRMSettings, get_settings
from integration.errors import CRMTransient, LeadRelayError

log = logging.getLogger("leadrelay.oauth")
# RFC 3986 characters: unreserved, reserved and "%" of escapes. A backslash, whitespace, a control or non-ASCII
# character is refused before any parsing, since parsers disagree on them (urlsplit keeps "\" in the host,
# urllib3 ends the host there).
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TOP_LABEL = re.compile(r"[a-z][a-z0-9-]*")  # never all digits or 0x…: 127.1 and 2130706433 are IPs to a resolver
DEFAULT_PORTS = {"https": 443, "http": 80}


class OAuthFailure(LeadRelayError):
    """The platform refused (bad code, bad refresh token, …): `reason` is its error code."""

    def __init__(self, reason: str, description: str = "") -> None:
        super().__init__(f"{reason}: {description}" if description else reason)
        self.reason = reason
        self.description = description


class DisallowedHost(LeadRelayError):
    """A URL handed back by the platform points outside the allowed hosts (SSRF guard)."""


@dataclass
class Identity:
    """Who installed, and which CRM account: what `build_installation` turns into a tenant."""

    external_id: str            # HubSpot portal id / Salesforce org id / Pipedrive company id
    name: str
    api_base: str               # where the adapter sends API calls for this account
    user_id: str                # the installing user, in the CRM
    user_email: str
    user_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # whether the CRM says this user is an admin of the account; None when the CRM did not tell us
    is_admin: bool | None = None


def as_flag(value: Any) -> bool | None:
    """A platform's boolean as it is sent (true/false, 1/0, "true"/"1"); None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else ""
    return {"true": True, "1": True, "false": False, "0": False}.get(text)


def sandbox_url() -> str | None:
    return get_settings().sandbox_url


def http_verify() -> str | bool:
    """The CA bundle for the sandbox's HTTPS when configured; the system trust store otherwise."""
    return get_settings().sandbox_ca or True


def _rehost(real_url: str, base: str | None) -> str:
    """`real_url`'s path and query on `base`'s scheme and host (unchanged without a base)."""
    if not base:
        return real_url
    parts, target = urlsplit(real_url), urlsplit(base)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


class OAuthProvider:
    """One platform's OAuth 2 authorization-code flow. Subclasses set the class attributes."""

    NAME: ClassVar[str]
    TITLE: ClassVar[str]  # how the platform spells its own name, for people
    AUTHORIZE_URL: ClassVar[str]
    TOKEN_URL: ClassVar[str]
    REVOKE_URL: ClassVar[str | None] = None
    SCOPES: ClassVar[tuple[str, ...]] = ()
    SCOPE_SEPARATOR: ClassVar[str] = " "
    PKCE: ClassVar[bool] = False
    TOKEN_AUTH_METHOD: ClassVar[str] = "client_secret_post"
    ALLOWED_HOSTS: ClassVar[tuple[str, ...]] = ()  # patterns for hosts the platform may hand back

    def __init__(self) -> None:
        credentials = self.settings
        self.client_id = credentials.client_id
        self.client_secret = credentials.client_secret

    # configuration ----------------------------------------------------------------------
    @property
    def settings(self) -> CRMSettings:
        """This platform's app settings as configured now (`<NAME>_CLIENT_ID`, `<NAME>_ALLOWED_HOSTS`, …)."""
        return get_settings().crm(self.NAME)

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def url(self, real_url: str) -> str:
        """The platform URL, re-hosted on the sandbox when LEADRELAY_SANDBOX_URL is set."""
        return _rehost(real_url, sandbox_url())

    def browser_url(self, real_url: str) -> str:
        """A platform page the admin's browser opens: on the sandbox's plain-HTTP origin when one is configured."""
        sandbox = sandbox_url()
        return _rehost(real_url, (sandbox and get_settings().sandbox_browser_url) or sandbox)

    def allowed_hosts(self) -> tuple[str, ...]:
        hosts = self.settings.allowed_hosts or self.ALLOWED_HOSTS
        sandbox = sandbox_url()
        return hosts + ((urlsplit(sandbox).hostname or "",) if sandbox else ())

    def check_host(self, url: str) -> str:
        """`url` if it is https (or the sandbox) on an allowed host; raises DisallowedHost otherwise.

        Strict: RFC 3986 characters only, no userinfo, no escapes in the authority, a DNS name (no IP literal,
        no trailing dot) on the default port, and the host urllib3 will connect to is the host checked.
        The sandbox's own origin (LEADRELAY_SANDBOX_URL: scheme http or https, its host and port) is exempt
        from the name and port rules.
        """
        parts = self._strict_parts(url)
        host = parts.hostname or ""
        on_sandbox = self._on_sandbox(parts)
        if parts.scheme != "https" and not on_sandbox:
            raise DisallowedHost(f"{self.NAME} returned a non-https URL: {url!r}")
        if not on_sandbox:
            self._check_public_host(parts, url)
        if not any(fnmatch.fnmatchcase(host, pattern) for pattern in self.allowed_hosts()):
            raise DisallowedHost(f"{self.NAME} returned a URL on a host that is not allowed: {host!r} "
                                 f"(allowed: {', '.join(self.allowed_hosts())}; see {self.NAME.upper()}_ALLOWED_HOSTS)")
        return url

    def _strict_parts(self, url: Any) -> SplitResult:
        """urlsplit(url) once the URL is plain RFC 3986 and urllib3 reads the same host from it."""
        if not isinstance(url, str) or not _URL_CHARS.fullmatch(url) or _BAD_ESCAPE.search(url):
            raise DisallowedHost(f"{self.NAME} returned a URL with characters outside RFC 3986: {url!r}")
        parts = urlsplit(url)
        if "@" in parts.netloc or "%" in parts.netloc:
            raise DisallowedHost(f"{self.NAME} returned a URL with userinfo or escapes in its host: {url!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
            connect_host = (parse_url(url).host or "").lower().strip("[]")
        except (ValueError, LocationParseError) as exc:
            raise DisallowedHost(f"{self.NAME} returned a URL that does not parse: {url!r}") from exc
        if not parts.hostname or connect_host != parts.hostname:
            raise DisallowedHost(f"{self.NAME} returned a URL whose host is ambiguous: {url!r}")
        return parts

    def _check_public_host(self, parts: SplitResult, url: str) -> None:
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            is_ip = True
        except ValueError:
            is_ip = "[" in parts.netloc
        labels = host.split(".")
        if is_ip or not _TOP_LABEL.fullmatch(labels[-1]):
            raise DisallowedHost(f"{self.NAME} returned a URL on an IP address: {host!r}")
        if not all(_LABEL.fullmatch(label) for label in labels):
            raise DisallowedHost(f"{self.NAME} returned a URL whose host is not a DNS name: {url!r}")
        if parts.port not in (None, DEFAULT_PORTS["https"]):
            raise DisallowedHost(f"{self.NAME} returned a URL on a non-default port: {url!r}")

    @staticmethod
    def _on_sandbox(parts: SplitResult) -> bool:
        sandbox = sandbox_url()
        if not sandbox or parts.scheme not in DEFAULT_PORTS:
            return False
        target = urlsplit(sandbox)
        origin = (target.hostname, target.port or DEFAULT_PORTS.get(target.scheme))
        return (parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]) == origin

    # the flow -----------------------------------------------------------------------------
    def session(self, redirect_uri: str | None = None, token: dict | None = None) -> OAuth2Session:
        sess = OAuth2Session(client_id=self.client_id, client_secret=self.client_secret,
                             token_endpoint_auth_method=self.TOKEN_AUTH_METHOD,
                             scope=self.SCOPE_SEPARATOR.join(self.SCOPES) or None, redirect_uri=redirect_uri,
                             token=token, code_challenge_method="S256" if self.PKCE else None,
                             default_timeout=15)
        sess.verify = http_verify()
        if sandbox_url():
            sess.trust_env = False  # the machine's CA bundle variables would override `verify`
        return sess

    def authorization_url(self, redirect_uri: str, state: str) -> tuple[str, str | None]:
        """(URL to send the admin to, PKCE code verifier to keep in the session or None)."""
        verifier = generate_token(64) if self.PKCE else None
        url, _ = self.session(redirect_uri).create_authorization_url(self.browser_url(self.AUTHORIZE_URL),
                                                                     state=state,
                                                                     code_verifier=verifier,
                                                                     **self.authorize_params())
        return url, verifier

    def authorize_params(self) -> dict[str, str]:
        return {}

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> dict:
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        return self._token_call(lambda s: s.fetch_token(self.url(self.TOKEN_URL), grant_type="authorization_code",
                                                        code=code, **extra), redirect_uri)

    def refresh(self, refresh_token: str) -> dict:
        return self._token_call(lambda s: s.refresh_token(self.url(self.TOKEN_URL), refresh_token=refresh_token))

    def _token_call(self, call, redirect_uri: str | None = None) -> dict:
        try:
            token = dict(call(self.session(redirect_uri)))
        except OAuthError as exc:
            raise OAuthFailure(exc.error or "oauth_error", exc.description or "") from exc
        except RequestException as exc:
            raise CRMTransient(f"{self.NAME} token endpoint unreachable: {type(exc).__name__}") from exc
        return self.normalize_token(token)

    def normalize_token(self, token: dict) -> dict:
        return token

    def identify(self, token: dict) -> Identity:
        """Which account and user this token belongs to. Must return `external_id`."""
        raise NotImplementedError

    def revoke(self, token: dict) -> None:
        """Tell the platform to forget the grant (best effort: uninstall goes on if it fails)."""
        if not self.REVOKE_URL:
            return
        self.session().revoke_token(self.url(self.REVOKE_URL), token=token.get("refresh_token")
                                    or token.get("access_token"))

    # helpers for subclasses ---------------------------------------------------------------
    @staticmethod
    def http() -> requests.Session:
        """A plain session for calls outside Authlib's token handling (identity, HubSpot revoke)."""
        sess = requests.Session()
        sess.verify = http_verify()
        sess.trust_env = not sandbox_url()
        return sess

    # statuses meaning "this access token is no good" (HubSpot's token-info answers 404 for one it forgot)
    UNAUTHORIZED_STATUSES: ClassVar[tuple[int, ...]] = (401,)

    def _get(self, url: str, token: dict) -> requests.Response:
        # A plain bearer call: Authlib's session would refuse a token it thinks expires within its
        # leeway, but refreshing is the token store's decision, not this call's.
        try:
            return self.http().get(url, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=15)
        except RequestException as exc:
            raise CRMTransient(f"{self.NAME} identity call failed: {type(exc).__name__}") from exc

    def get_json(self, url: str, token: dict) -> dict:
        resp = self._get(url, token)
        if resp.status_code in self.UNAUTHORIZED_STATUSES:
            raise OAuthFailure("invalid_token", f"{self.NAME} refused the access token")
        if resp.status_code >= 500:
            raise CRMTransient(f"{self.NAME} identity call answered {resp.status_code}")
        if resp.status_code >= 400:
            raise OAuthFailure("identity_failed", f"{self.NAME} answered {resp.status_code}")
        return resp.json()

    def ask_json(self, url: str, token: dict, question: str) -> dict | None:
        """Like get_json, for a question the platform may decline to answer (a scope or permission missing,
        an unknown id): a 4xx other than 401, or a body that is not a JSON object, gives None, logged once
        as `<platform>.identify.<question>-unknown`. 401 and 5xx raise as in get_json."""
        resp = self._get(url, token)
        if resp.status_code == 401:
            raise OAuthFailure("invalid_token", f"{self.NAME} refused the access token")
        if resp.status_code >= 500:
            raise CRMTransient(f"{self.NAME} identity call answered {resp.status_code}")
        try:
            body = resp.json() if resp.status_code < 400 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.note_unknown(question, resp.status_code, self._error_category(resp))
        return body if isinstance(body, dict) else None

    def note_unknown(self, question: str, status: int | None = None, category: Any = None) -> None:
        """Log that the platform did not answer `question` (e.g. "admin") for this identity."""
        log.warning(f"{self.NAME}.identify.{question}-unknown",
                    extra={"platform": self.NAME, "status": status, "category": category})

    @staticmethod
    def _error_category(resp: requests.Response) -> str | None:
        """The platform's error code, when its error body has one (HubSpot category, Salesforce errorCode)."""
        try:
            body = resp.json()
        except ValueError:
            return None
        first = body[0] if isinstance(body, list) and body else body
        if not isinstance(first, dict):
            return None
        return first.get("category") or first.get("errorCode") or first.get("error")
