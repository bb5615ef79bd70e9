"""Where the pipeline hands newly owned leads to outreach: after the owners are written and the SLA tasks opened
(pipeline.writes.flush_owners), each lead as first response and handoff see it (common.NewLead).

Nothing happens (no query, no job) unless the published rules give the lead's tier a first response or have
handoff rules: a tenant that has not turned outreach on pays nothing on the routing path.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from integration.outreach.common import NewLead
from integration.outreach.firstresponse import plan_first_responses
from integration.records import CRMUser, Record
from integration.work import Work

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
    # handoff first (the merge adds `handoff.on_new_leads(work, leads)` here): a referral's skip_automation hold
    # must exist before the first-response job reads the holds
    plan_first_responses(work, [lead for lead in leads if section.for_tier(lead.tier) is not None])


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
