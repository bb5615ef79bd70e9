"""Build a tenant's adapter with its token provider, shared rate budget and write log."""
from __future__ import annotations

from adapters.registry import get_adapter_class
from integration.config import get_settings
from integration.crm.echo import RedisWriteLog
from integration.crm.wiring import set_adapter_factory
from integration.db import session_scope
from integration.errors import ReauthRequired
from integration.models import Tenant
from integration.protocols import CRMAdapter, TenantRef
from integration.queues import redis_connection
from integration.ratelimit import RedisRateBudget
from oauth.tokens import TenantTokens


def tenant_ref(tenant_id: int) -> TenantRef:
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise ReauthRequired(tenant_id, "the installation is gone")
        return TenantRef(id=tenant.id, platform=tenant.platform, external_id=tenant.external_id,
                         api_base=tenant.api_base, settings=dict(tenant.settings or {}))


def budget_reserves(cls: type) -> dict[str, float]:
    """Bucket -> the share of it kept for the customer's other integrations (an allowance the whole org shares and
    that locks every integration out when used up: Salesforce's daily one)."""
    return {bucket: get_settings().salesforce_reserve for bucket in getattr(cls, "RESERVED_BUCKETS", ())}


def build_adapter(tenant_id: int) -> CRMAdapter:
    """The tenant's adapter, sharing its Redis rate budget and write log with every worker (what adapter_for gives)."""
    ref = tenant_ref(tenant_id)
    cls = get_adapter_class(ref.platform)
    redis = redis_connection(get_settings())
    budget = RedisRateBudget(redis, tenant_id, cls.RATE_LIMITS, thresholds=dict(get_settings().budget_thresholds),
                             reserves=budget_reserves(cls))
    return cls(ref, TenantTokens(tenant_id), budget, RedisWriteLog(redis, tenant_id))


def wire() -> None:
    """Make build_adapter the domain's adapter factory (worker.py and app.py call this at start)."""
    set_adapter_factory(build_adapter)
