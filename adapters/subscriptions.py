"""Per-tenant webhook credentials and subscriptions, made after install (in a job, never in the request)."""
from __future__ import annotations

import hashlib
import logging
import secrets

from sqlalchemy import delete

from integration.config import ConfigError, get_settings
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.errors import CRMValidationError
from integration.jobs import job
from integration.models import Tenant, WebhookKey
from integration.queues import MAINTENANCE
from oauth.crypto import TokenCipher

log = logging.getLogger("leadrelay.subscriptions")


def public_url(request_url: str | None = None) -> str:
    """LEADRELAY_PUBLIC_URL; unset, the app's URL as the request that asked for the webhooks reached it (the
    settings' one default: the request's host, as for OAuth redirect URIs)."""
    found = get_settings().public_url or request_url
    if not found:
        raise ConfigError("LEADRELAY_PUBLIC_URL is not set and no request says where the app is: set it to the URL "
                          "the CRMs reach LeadRelay at (webhook URLs are built from it)")
    return found.rstrip("/")


def webhook_url(platform: str, key: str | None = None, secret: str | None = None,
                request_url: str | None = None) -> str:
    """Where the platform posts. Salesforce carries the tenant's key and secret in the path (no signatures)."""
    base = f"{public_url(request_url)}/webhooks/{platform}"
    return f"{base}/{key}/{secret}" if platform == "salesforce" and key and secret else base


def new_webhook_key(session, tenant_id: int) -> tuple[str, str]:
    """Replace the tenant's webhook key and secret; returns (key, secret). Only the hash is checked later."""
    key, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
    session.execute(delete(WebhookKey).where(WebhookKey.tenant_id == tenant_id))
    session.add(WebhookKey(tenant_id=tenant_id, key=key, secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                           secret_enc=TokenCipher.from_settings().encrypt(secret)))
    session.flush()
    return key, secret


@job(MAINTENANCE, name="subscribe_tenant_webhooks", timeout=120, retries=5)
def subscribe_tenant_webhooks(tenant_id: int, request_url: str | None = None) -> list[str]:
    """Give the tenant fresh webhook credentials and (re)subscribe where the platform does it by API.

    `request_url`: the app's URL as the install request reached it, used when LEADRELAY_PUBLIC_URL is unset."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        platform = tenant.platform
        key, secret = new_webhook_key(session, tenant_id)
    adapter = adapter_for(tenant_id)
    ids = adapter.subscribe_webhooks(webhook_url(platform, key, secret, request_url), key, secret)
    with session_scope(settings.database_url) as session:
        Tenant.merge_settings(session, tenant_id, {"webhook_subscriptions": ids})
    log.info("webhooks.subscribed", extra={"tenant_id": tenant_id, "platform": platform, "count": len(ids)})
    return ids


@job(MAINTENANCE, name="ensure_tenant_fields", timeout=120, retries=5)
def ensure_tenant_fields(tenant_id: int) -> list[str]:
    """Create LeadRelay's own fields on the tenant's lead object (or check the Salesforce package has them).

    Records the outcome in tenant.settings["leadrelay_fields"]: {"ready", "created", "keys" (Pipedrive's
    hash keys by neutral name), "priorities" (Pipedrive's activity priority option ids), "error" (what the admin
    must do)}; adapters read the fields once ready.
    """
    adapter = adapter_for(tenant_id)
    try:
        created = adapter.ensure_custom_fields()
        state = {"ready": True, "created": created, "error": None}
    except CRMValidationError as exc:  # an admin step is missing: not something a retry fixes
        log.warning("fields.missing", extra={"tenant_id": tenant_id, "error": str(exc)})
        created, state = [], {"ready": False, "created": [], "error": str(exc)}
    keys = getattr(adapter, "leadrelay_keys", None)
    if state["ready"] and keys is not None:
        state["keys"] = keys()
    priorities = getattr(adapter, "activity_priorities", None)
    if state["ready"] and priorities is not None:
        state["priorities"] = priorities()  # found once here, not by every job that creates a task
    unavailable = getattr(adapter, "leadrelay_unavailable", None)
    if state["ready"] and unavailable is not None and unavailable():
        state["unavailable"] = unavailable()  # an older package: the other fields are written, these are not
    with session_scope(get_settings().database_url) as session:
        Tenant.merge_settings(session, tenant_id, {"leadrelay_fields": state})
    log.info("fields.ensured", extra={"tenant_id": tenant_id, "fields_created": len(created)})
    return created
