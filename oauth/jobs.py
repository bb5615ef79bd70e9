"""Jobs that need a CRM token: verify an installation (refreshing the token when it has expired)."""
from __future__ import annotations

import logging

from integration.config import get_settings
from integration.db import session_scope
from integration.jobs import job
from integration.models import Tenant, utcnow
from integration.queues import MAINTENANCE
from oauth.base import OAuthFailure
from oauth.registry import get_provider
from oauth.tokens import TokenStore

log = logging.getLogger("leadrelay.oauth.jobs")


def call_with_token(tenant_id: int, call):
    """Run `call(access_token)`; on a 401, refresh once and try again (then ReauthRequired propagates)."""
    store = TokenStore()
    token = store.access_token(tenant_id)
    try:
        return call(token)
    except OAuthFailure as exc:
        if exc.reason != "invalid_token":
            raise
        return call(store.after_unauthorized(tenant_id, token))


@job(MAINTENANCE, name="verify_installation", timeout=60, retries=5)
def verify_installation(tenant_id: int) -> str:
    """Check the stored token still opens the same CRM account; records when it was last verified."""
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or not tenant.is_processing:
            return "skipped"
        platform, external_id = tenant.platform, tenant.external_id
    provider = get_provider(platform)
    identity = call_with_token(tenant_id, lambda access: provider.identify(_token_for(provider, tenant_id, access)))
    if identity.external_id != external_id:
        raise OAuthFailure("account_mismatch", f"token opens {identity.external_id}, expected {external_id}")
    with session_scope(get_settings().database_url) as session:
        Tenant.merge_settings(session, tenant_id, {"verified_at": utcnow().isoformat()})
    return "verified"


def _token_for(provider, tenant_id: int, access_token: str) -> dict:
    """What identify() needs besides the access token (Salesforce id URL, Pipedrive api_domain)."""
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        extra = dict((tenant.settings or {}).get("identity_token_fields", {}))
    return {"access_token": access_token, "token_type": "Bearer", **extra}
