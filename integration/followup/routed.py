"""Follow-up after routing: the owner's SLA task (integration/followup/sla.py), then escalation and cadences.

The pipeline calls `on_routed_many` once per drain batch with the leads whose owner was just written: their
first-touch tasks are created in as few CRM calls as the platform allows (`create_tasks`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from integration.errors import CRMAuthError, CRMRateLimited, CRMTransient
from integration.followup.common import lead_facts
from integration.followup.sla import NewTimer, retry_later, start_timer, task_created
from integration.models import ReviewItem
from integration.work import Work

if TYPE_CHECKING:
    from integration.records import CRMUser, Record

log = logging.getLogger("leadrelay.followup")
Routed = tuple["Record", "CRMUser", Any, str, str]  # record, owner, route decision, tier, reason


def on_routed(work: Work, record: Record, owner: CRMUser, decision: Any, tier: str, reason: str) -> None:
    """One newly routed lead, after its owner was written: the first-touch task and its check."""
    on_routed_many(work, [(record, owner, decision, tier, reason)])


def on_routed_many(work: Work, routed: list[Routed]) -> None:
    """Newly routed leads, after their owners were written: each one's first-touch task (once) and its check."""
    if work.rules is None or not routed:
        return
    started: list[NewTimer] = []
    for record, owner, decision, tier, reason in routed:
        inputs = dict(getattr(decision, "inputs", None) or {})
        lead = lead_facts(inputs) or {"id": record.id, **record.fields}
        new = start_timer(work, record.object_type, record.id, owner, tier, lead, reason, route=inputs)
        if new is not None:
            started.append(new)
    if not started:
        return
    auth_error = None
    for new, result in zip(started, work.adapter.create_tasks([n.spec for n in started]), strict=True):
        if not isinstance(result, Exception):
            task_created(work, new, result)
            continue
        work.session.delete(new.timer)  # give the claim back: the retry creates the task
        work.session.commit()
        auth_error = auth_error or _task_refused(work, new, result)
    if auth_error is not None:
        raise auth_error  # the tenant pauses until the admin reconnects


def _task_refused(work: Work, new: NewTimer, error: Exception) -> Exception | None:
    """What to do with a task the CRM did not create; returns an auth error for the caller to raise."""
    timer = new.timer
    if isinstance(error, CRMRateLimited | CRMTransient):
        # the owner is written and the route decided for good; only the task waits for the CRM
        log.warning("sla.task-deferred", extra={"tenant_id": work.tenant_id, "object_id": timer.object_id,
                                                "error": str(error)})
        retry_later(work.tenant_id, timer.object_type, timer.object_id, getattr(error, "retry_after", None))
        return None
    if isinstance(error, CRMAuthError):
        return error
    work.session.add(ReviewItem(tenant_id=work.tenant_id, kind="crm_error", object_type=timer.object_type,
                               object_id=timer.object_id,
                               reason=f"The CRM refused the SLA task: {type(error).__name__}: {error}"[:500]))
    work.session.commit()
    return None
