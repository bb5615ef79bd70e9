"""The encrypted token store: save, read, refresh before expiry or once after a 401, one refresher per tenant."""
from __future__ import annotations

import datetime as dt
import logging

from redis import Redis
from sqlalchemy import select

from integration.admin.tenancy import mark_reauth_required
from integration.config import get_settings
from integration.db import session_scope
from integration.errors import ReauthRequired
from integration.models import Credential, Tenant, TenantStatus
from integration.queues import redis_connection
from oauth.base import OAuthFailure
from oauth.crypto import TokenCipher
from oauth.registry import get_provider

log = logging.getLogger("leadrelay.oauth.tokens")

LOCK_TIMEOUT = 60


def _expires_at(token: dict) -> dt.datetime | None:
    if token.get("expires_at"):
        return dt.datetime.fromtimestamp(int(token["expires_at"]), dt.UTC)
    if token.get("expires_in"):
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(token["expires_in"]))
    return None


class TokenStore:
    """Tokens of every tenant, encrypted with LEADRELAY_ENCRYPTION_KEYS (Fernet, rotatable)."""

    def __init__(self, cipher: TokenCipher | None = None, redis: Redis | None = None) -> None:
        settings = get_settings()
        self.database_url = settings.database_url
        self.cipher = cipher or TokenCipher.from_settings(settings)
        self._redis = redis

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = redis_connection(get_settings())
        return self._redis

    def save(self, session, tenant_id: int, token: dict, keep_refresh: bool = True) -> Credential:
        """Store `token` for the tenant (encrypted). A response without a refresh token keeps the old one."""
        cred = session.scalar(Credential.for_tenant(tenant_id))
        if cred is None:
            cred = Credential(tenant_id=tenant_id)
            session.add(cred)
        cred.access_token_enc = self.cipher.encrypt(token["access_token"])
        if token.get("refresh_token"):
            cred.refresh_token_enc = self.cipher.encrypt(token["refresh_token"])
        elif not keep_refresh:
            cred.refresh_token_enc = None
        cred.expires_at = _expires_at(token)
        cred.scopes = str(token.get("scope", ""))[:1000]
        session.flush()
        return cred

    def read(self, tenant_id: int) -> dict:
        """The decrypted token of a tenant (access_token, refresh_token, expires_at)."""
        with session_scope(self.database_url) as session:
            cred = session.scalar(Credential.for_tenant(tenant_id))
            if cred is None:
                raise ReauthRequired(tenant_id, "no stored credentials")
            return self._plain(cred)

    def _plain(self, cred: Credential) -> dict:
        token = {"access_token": self.cipher.decrypt(cred.access_token_enc), "token_type": "Bearer"}
        if cred.refresh_token_enc:
            token["refresh_token"] = self.cipher.decrypt(cred.refresh_token_enc)
        if cred.expires_at:
            token["expires_at"] = int(cred.expires_at.timestamp())
        return token

    @staticmethod
    def expiring(token: dict) -> bool:
        exp = token.get("expires_at")
        # refreshed this long before expiry, so a call never starts with a token about to lapse
        margin = dt.timedelta(seconds=get_settings().token_refresh_margin_seconds)
        return exp is not None and dt.datetime.fromtimestamp(exp, dt.UTC) - margin <= dt.datetime.now(dt.UTC)

    def access_token(self, tenant_id: int) -> str:
        """A usable access token, refreshed first when it expires within the margin."""
        token = self.read(tenant_id)
        if self.expiring(token):
            token = self._refresh(tenant_id, rejected=None)
        return token["access_token"]

    def after_unauthorized(self, tenant_id: int, rejected_access_token: str) -> str:
        """The CRM answered 401 to `rejected_access_token`: refresh once (unless someone already did)."""
        return self._refresh(tenant_id, rejected=rejected_access_token)["access_token"]

    def _refresh(self, tenant_id: int, rejected: str | None) -> dict:
        # One refresher per tenant across all workers: rotating refresh tokens die after one use.
        with self.redis.lock(f"leadrelay:lock:refresh:{tenant_id}", timeout=LOCK_TIMEOUT,
                             blocking_timeout=LOCK_TIMEOUT):
            with session_scope(self.database_url) as session:
                tenant = session.get(Tenant, tenant_id)
                cred = session.scalar(Credential.for_tenant(tenant_id))
                if tenant is None or cred is None:
                    raise ReauthRequired(tenant_id, "the installation is gone")
                if tenant.status == TenantStatus.REAUTH_REQUIRED:
                    raise ReauthRequired(tenant_id, tenant.settings.get("reauth_reason", "refresh failed earlier"))
                token = self._plain(cred)
                someone_else_did = rejected is not None and token["access_token"] != rejected
                if someone_else_did or (rejected is None and not self.expiring(token)):
                    return token
                platform = tenant.platform
            return self._call_refresh(tenant_id, platform, token)

    def _call_refresh(self, tenant_id: int, platform: str, token: dict) -> dict:
        if not token.get("refresh_token"):
            mark_reauth_required(tenant_id, "no refresh token stored")
            raise ReauthRequired(tenant_id, "no refresh token stored")
        try:
            fresh = get_provider(platform).refresh(token["refresh_token"])
        except OAuthFailure as exc:
            mark_reauth_required(tenant_id, f"refresh refused: {exc.reason}")
            raise ReauthRequired(tenant_id, f"refresh refused: {exc.reason}") from exc
        with session_scope(self.database_url) as session:
            self.save(session, tenant_id, fresh)
        log.info("oauth.token.refreshed", extra={"tenant_id": tenant_id, "platform": platform})
        merged = {**token, **fresh}
        if _expires_at(fresh):
            merged["expires_at"] = int(_expires_at(fresh).timestamp())
        return merged

    def tenants_with_tokens(self) -> list[int]:
        with session_scope(self.database_url) as session:
            return list(session.scalars(select(Credential.tenant_id)))


class TenantTokens:
    """The TokenProvider an adapter gets: one tenant's tokens from the store."""

    def __init__(self, tenant_id: int, store: TokenStore | None = None) -> None:
        self.tenant_id = tenant_id
        self.store = store or TokenStore()

    def access_token(self) -> str:
        return self.store.access_token(self.tenant_id)

    def after_unauthorized(self, rejected: str) -> str:
        return self.store.after_unauthorized(self.tenant_id, rejected)
