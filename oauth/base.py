"""The OAuth provider base class: Authlib does the protocol; subclasses declare URLs and identity."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from requests import RequestException

from integration.errors import CRMTransient, LeadRelayError


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


def sandbox_url() -> str | None:
    return os.environ.get("LEADRELAY_SANDBOX_URL", "").strip().rstrip("/") or None


def http_verify() -> str | bool:
    """The CA bundle for the sandbox's HTTPS when configured; the system trust store otherwise."""
    return os.environ.get("LEADRELAY_SANDBOX_CA", "").strip() or True


class OAuthProvider:
    """One platform's OAuth 2 authorization-code flow. Subclasses set the class attributes."""

    NAME: ClassVar[str]
    AUTHORIZE_URL: ClassVar[str]
    TOKEN_URL: ClassVar[str]
    REVOKE_URL: ClassVar[str | None] = None
    SCOPES: ClassVar[tuple[str, ...]] = ()
    SCOPE_SEPARATOR: ClassVar[str] = " "
    PKCE: ClassVar[bool] = False
    TOKEN_AUTH_METHOD: ClassVar[str] = "client_secret_post"
    ALLOWED_HOSTS: ClassVar[tuple[str, ...]] = ()  # patterns for hosts the platform may hand back

    def __init__(self) -> None:
        prefix = self.NAME.upper()
        self.client_id = os.environ.get(f"{prefix}_CLIENT_ID", "").strip()
        self.client_secret = os.environ.get(f"{prefix}_CLIENT_SECRET", "").strip()

    # configuration ----------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def url(self, real_url: str) -> str:
        """The platform URL, re-hosted on the sandbox when LEADRELAY_SANDBOX_URL is set."""
        sandbox = sandbox_url()
        if not sandbox:
            return real_url
        parts, target = urlsplit(real_url), urlsplit(sandbox)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))

    def allowed_hosts(self) -> tuple[str, ...]:
        env = os.environ.get(f"{self.NAME.upper()}_ALLOWED_HOSTS", "").strip()
        hosts = tuple(h.strip() for h in env.split(",") if h.strip()) or self.ALLOWED_HOSTS
        sandbox = sandbox_url()
        return hosts + ((urlsplit(sandbox).hostname or "",) if sandbox else ())

    def check_host(self, url: str) -> str:
        """`url` if it is https (or the sandbox) on an allowed host; raises DisallowedHost otherwise."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        sandbox = sandbox_url()
        on_sandbox = bool(sandbox) and host == (urlsplit(sandbox).hostname or "")
        if parts.scheme != "https" and not on_sandbox:
            raise DisallowedHost(f"{self.NAME} returned a non-https URL: {url!r}")
        if not any(fnmatch.fnmatchcase(host, pattern) for pattern in self.allowed_hosts()):
            raise DisallowedHost(f"{self.NAME} returned a URL on a host that is not allowed: {host!r} "
                                 f"(allowed: {', '.join(self.allowed_hosts())}; see {self.NAME.upper()}_ALLOWED_HOSTS)")
        return url

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
        url, _ = self.session(redirect_uri).create_authorization_url(self.url(self.AUTHORIZE_URL), state=state,
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

    def get_json(self, url: str, token: dict) -> dict:
        # A plain bearer call: Authlib's session would refuse a token it thinks expires within its
        # leeway, but refreshing is the token store's decision, not this call's.
        try:
            resp = self.http().get(url, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=15)
        except RequestException as exc:
            raise CRMTransient(f"{self.NAME} identity call failed: {type(exc).__name__}") from exc
        if resp.status_code in self.UNAUTHORIZED_STATUSES:
            raise OAuthFailure("invalid_token", f"{self.NAME} refused the access token")
        if resp.status_code >= 500:
            raise CRMTransient(f"{self.NAME} identity call answered {resp.status_code}")
        if resp.status_code >= 400:
            raise OAuthFailure("identity_failed", f"{self.NAME} answered {resp.status_code}")
        return resp.json()
