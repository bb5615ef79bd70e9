"""Disconnect a tenant: revoke the grant (best effort), stop processing, erase its data in a job."""
from __future__ import annotations

import logging

from integration.admin.tenancy import erase_tenant_data, mark_uninstalled
from integration.errors import CRMTransient, ReauthRequired
from integration.models import Tenant
from oauth.base import OAuthFailure
from oauth.crypto import EncryptionKeyError
from oauth.registry import get_provider
from oauth.tokens import TokenStore

log = logging.getLogger("leadrelay.oauth.disconnect")


def revoke_grant(tenant: Tenant) -> str:
    """Ask the platform to forget the grant; returns a note for the erasure record (never raises)."""
    try:
        get_provider(tenant.platform).revoke(TokenStore().read(tenant.id))
    except (OAuthFailure, CRMTransient, ReauthRequired, EncryptionKeyError) as exc:
        # The erasure the admin asked for must go on; the note says the grant may outlive it.
        log.warning("tenant.revoke-failed", extra={"tenant_id": tenant.id, "platform": tenant.platform,
                                                    "error": type(exc).__name__})
        return f"revocation failed ({type(exc).__name__}: {exc}); the grant may remain until it expires"
    return "revoked"


def disconnect(session, tenant: Tenant, actor: str) -> str:
    """Revoke, mark uninstalled, commit, and enqueue the erasure; returns the revocation note."""
    note = revoke_grant(tenant)
    mark_uninstalled(session, tenant)
    session.commit()
    erase_tenant_data.enqueue(tenant.id, f"disconnected by {actor}; {note}", job_id=f"erase-tenant-{tenant.id}")
    log.info("tenant.disconnected", extra={"tenant_id": tenant.id, "platform": tenant.platform})
    return note
