"""Build a tenant's adapter with its token provider, shared rate budget and write log."""
from __future__ import annotations

from adapters.registry import get_adapter_class
from integration.config import get_settings
from integration.db import session_scope
from integration.echo import RedisWriteLog
from integration.errors import ReauthRequired
from integration.models import Tenant
from integration.protocols import CRMAdapter, TenantRef
from integration.queues import redis_connection
from integration.ratelimit import RedisRateBudget
from integration.wiring import set_adapter_factory
from oauth.tokens import TenantTokens


def tenant_ref(tenant_id: int) -> TenantRef:
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise ReauthRequired(tenant_id, "the installation is gone")
        return TenantRef(id=tenant.id, platform=tenant.platform, external_id=tenant.external_id,
                         api_base=tenant.api_base, settings=dict(tenant.settings or {}))


def build_adapter(tenant_id: int) -> CRMAdapter:
    ref = tenant_ref(tenant_id)
    cls = get_adapter_class(ref.platform)
    redis = redis_connection(get_settings().redis_url or "")
    return cls(ref, TenantTokens(tenant_id), RedisRateBudget(redis, tenant_id, cls.RATE_LIMITS),
               RedisWriteLog(redis, tenant_id))


def wire() -> None:
    set_adapter_factory(build_adapter)
