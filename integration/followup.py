"""Follow-up after routing: the owner's SLA task (integration/sla.py), then escalation and cadences.

The pipeline calls `on_routed` once per newly routed lead, right after the owner was written.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from integration.errors import CRMRateLimited, CRMTransient
from integration.routing.redis_state import RedisPoolState
from integration.sla import open_timer, retry_later
from integration.sla_context import Work, lead_facts

if TYPE_CHECKING:
    from integration.pipeline import Context
    from integration.records import CRMUser, Record

log = logging.getLogger("leadrelay.followup")


def on_routed(ctx: Context, record: Record, owner: CRMUser, decision: Any, tier: str, reason: str) -> None:
    """Called once per newly routed lead, after its owner was written: the first-touch task and its check."""
    if ctx.rules is None:
        return
    work = Work(ctx.session, ctx.tenant.id, ctx.adapter, ctx.rules, ctx.users,
                RedisPoolState(ctx.redis, ctx.tenant.id))
    lead = lead_facts(getattr(decision, "inputs", None) or {}) or {"id": record.id, **record.fields}
    try:
        open_timer(work, record.object_type, record.id, owner, tier, lead, reason)
    except (CRMRateLimited, CRMTransient) as exc:
        # the owner is written and the route decided for good; only the task waits for the CRM
        log.warning("sla.task-deferred", extra={"tenant_id": ctx.tenant.id, "object_id": record.id,
                                                "error": str(exc)})
        retry_later(ctx.tenant.id, record.object_type, record.id, getattr(exc, "retry_after", None))
