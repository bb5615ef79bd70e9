"""Build a tenant's adapter with its token provider, shared rate budget and write log."""
from __future__ import annotations

from adapters.registry import get_adapter_class
from integration.config import get_settings
from integration.crm.echo import RedisWriteLog
from integration.crm.wiring import set_adapter_factory
from integration.db import session_scope
from integration.errors import CRMBudgetExhausted, CRMRateLimited, ReauthRequired
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


class LearningAdapter:
    """The tenant's adapter, with every 429 fed back to the shared budget so later calls stay under the limit."""

    def __init__(self, adapter: CRMAdapter, budget: RedisRateBudget) -> None:
        self._adapter, self._budget = adapter, budget

    def __getattr__(self, name: str):
        value = getattr(self._adapter, name)
        if not callable(value) or name.isupper():
            return value

        def call(*args, **kwargs):
            self._budget.begin_call()
            try:
                return value(*args, **kwargs)
            except CRMRateLimited as exc:
                # the CRM said 429, not our own budget; an allowance used up until its reset is no burst to learn
                # from (the adapter told the budget when it resets)
                if not getattr(exc, "ours", False) and not isinstance(exc, CRMBudgetExhausted):
                    self._budget.penalize(self._budget.window_bucket(), exc.retry_after)
                raise

        return call


def build_adapter(tenant_id: int) -> CRMAdapter:
    ref = tenant_ref(tenant_id)
    cls = get_adapter_class(ref.platform)
    redis = redis_connection(get_settings().redis_url or "")
    budget = RedisRateBudget(redis, tenant_id, cls.RATE_LIMITS)
    return LearningAdapter(cls(ref, TenantTokens(tenant_id), budget, RedisWriteLog(redis, tenant_id)), budget)


def wire() -> None:
    set_adapter_factory(build_adapter)
