"""Where the pipeline hands newly owned leads to outreach: after the owners are written and the SLA tasks opened
(pipeline.writes.flush_owners), each lead as first response and handoff see it (common.NewLead).

Nothing happens (no query, no job) unless the published rules give the lead's tier a first response or have
handoff rules: a tenant that has not turned outreach on pays nothing on the routing path.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from integration.config import get_settings
from integration.db import session_scope
from integration.errors import CRMRateLimited, CRMTransient
from integration.followup.common import route_decision
from integration.jobs import job
from integration.outreach.common import NewLead
from integration.outreach.firstresponse import plan_first_responses
from integration.outreach.handoff import on_new_leads
from integration.queues import INTAKE
from integration.records import CRMUser, Record
from integration.work import Work, work_for_job

log = logging.getLogger("leadrelay.outreach")

Written = tuple[Record, CRMUser | None, Any]  # the record, its owner, its route decision


def on_owners_written(work: Work, written: list[Written]) -> None:
    """The leads whose owners flush_owners just wrote: their first responses planned (and, later, handoff)."""
    rules = work.rules
    if rules is None or not written:
        return
    section = rules.first_response
    wanted = [w for w in written if section.for_tier(_tier(w)) is not None or rules.handoff]
    if not wanted:
        return
    leads = [new_lead(record, owner, decision) for record, owner, decision in wanted]
    # handoff first: a referral's skip_automation hold must exist before the first-response job reads the holds
    for lead in leads:
        try:
            on_new_leads(work, [lead])
        except (CRMRateLimited, CRMTransient) as exc:
            # the owners are written for good: only this lead's handoff (the owner's task) waits for the CRM; its
            # actions are claimed one by one, so the job does what is left. The holds are database rows, already
            # there: the first response below still reads them.
            log.warning("handoff.new-lead-deferred", extra={"tenant_id": work.tenant_id, "object_id": lead.object_id,
                                                           "error": str(exc)})
            new_lead_handoff.enqueue(work.tenant_id, lead.object_type, lead.object_id,
                                     job_id=f"handoff-new-{work.tenant_id}-{lead.object_type}-{lead.object_id}",
                                     delay=getattr(exc, "retry_after", None) or 10)
    plan_first_responses(work, [lead for lead in leads if section.for_tier(lead.tier) is not None])


@job(INTAKE, name="new_lead_handoff", timeout=120)
def new_lead_handoff(tenant_id: int, object_type: str, object_id: str) -> str:
    """A new lead's handoff rules the CRM put off in the pipeline (a 429 on the owner's task): run again; what was
    done is not done twice."""
    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        route = route_decision(work, object_type, object_id) if work else None
        if work is None or route is None or not route.inputs.get("owner_id"):
            return "stale"
        record = work.adapter.get_record(object_type, object_id)
        if record is None:
            return "gone"
        on_new_leads(work, [new_lead(record, work.user(route.inputs["owner_id"]), route)])
        return "done"


def new_lead(record: Record, owner: CRMUser | None, decision: Any) -> NewLead:
    """The lead as its route decision saw it (tier, score, rule, the normalized lead) with the record as read."""
    inputs = dict(getattr(decision, "inputs", None) or {})
    created = record.created_at
    return NewLead(object_type=record.object_type, object_id=record.id, owner=owner, tier=_tier((record, owner,
                   decision)), score=inputs.get("score"), rule=inputs.get("rule"), facts=dict(inputs.get("lead") or {}),
                   record_fields=dict(record.fields),
                   created_at=created if created is None or created.tzinfo else created.replace(tzinfo=dt.UTC))


def _tier(written: Written) -> str:
    inputs = getattr(written[2], "inputs", None) or {}
    return inputs.get("tier") or "nurture"
