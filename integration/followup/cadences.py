"""Follow-up cadences (RULES.md `cadences`): after the first touch, the tier's steps one task at a time.

Each step is a SlaTimer row `cadence:<object_type>:<id>:<tier>:<n>` (policy `cadence:<tier>`, status planned →
created | cancelled) and a scheduled job at the first touch plus the step's `after` ("day 1, day 3, day 7").
Only the next step exists at any time, so stopping is marking that one row cancelled: nothing dangles.
Before a step's task is created the lead is looked at; the cadence stops (remaining steps cancelled) when
- the record is gone or disqualified (lead status unqualified/disqualified/junk),
- `stage_change` is in pause_on and its lifecycle stage or lead status moved since the cadence started,
- `reply` or `meeting` is in pause_on and a call, email or meeting was logged since the previous step
  (the adapters tell whether such an activity exists, not who started it: a logged outbound email counts).
`deal_created` is honoured through `stop_cadence`, which the lifecycle handler calls for a new deal.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.crm.merged_records import remap_merged
from integration.db import session_scope
from integration.followup.business_hours import due_at
from integration.followup.common import (
    audit,
    claim,
    decision,
    lead_facts,
    lead_name,
    next_second,
    released_on_error,
    route_decision,
    timers_of_lead,
)
from integration.jobs import job, job_key
from integration.models import AutomationHold, SlaTimer
from integration.queues import SLA
from integration.records import TaskSpec
from integration.rules.policies import CadenceStep
from integration.work import Work, work_for_job

DISQUALIFIED = frozenset({"unqualified", "disqualified", "junk", "bad_timing"})
# the handoff holds (models.outreach.HOLD_KINDS) under which no cadence step is created: all of them
HELD = ("stop", "do_not_contact", "skip_automation", "paused")


def hold_on(session: Session, tenant_id: int, object_type: str, object_id: str) -> AutomationHold | None:
    """The lead's first hold that stops cadences (a handoff rule set it), else None."""
    return session.scalar(AutomationHold.for_tenant(tenant_id).where(
        AutomationHold.object_type == object_type, AutomationHold.object_id == object_id,
        AutomationHold.kind.in_(HELD)).order_by(AutomationHold.id).limit(1))


def steps_for(work: Work, tier: str) -> list[CadenceStep]:
    return list(getattr(work.rules.cadences, tier, None) or [])


def start_key(object_type: str, object_id: str, tier: str) -> str:
    return f"cadence:{object_type}:{object_id}:{tier}"


def start_cadence(work: Work, timer: SlaTimer) -> None:
    """After the first touch: remember where the lead stood, then plan step 1 (once per lead and tier)."""
    steps = steps_for(work, timer.policy)
    if not steps or hold_on(work.session, work.tenant_id, timer.object_type, timer.object_id) is not None:
        return
    record = work.adapter.get_record(timer.object_type, timer.object_id)
    fields = record.fields if record else {}
    since = next_second(work.now())  # the first touch itself is not "the lead engaged"
    start = audit(work, f"{start_key(timer.object_type, timer.object_id, timer.policy)}:start", "cadence", timer,
                  "started", f"{len(steps)}-step {timer.policy} cadence after the first touch",
                  {"since": since.isoformat(), "stage": fields.get("lifecycle_stage"),
                   "lead_status": fields.get("lead_status"), "owner_id": timer.owner_id})
    if start is not None:
        _plan(work, timer.object_type, timer.object_id, timer.policy, timer.owner_id, 0,
              due_at(since, steps[0].after, business_hours=False))


def _plan(work: Work, object_type: str, object_id: str, tier: str, owner_id: str | None, n: int,
          due: dt.datetime) -> None:
    row = SlaTimer(tenant_id=work.tenant_id, key=f"{start_key(object_type, object_id, tier)}:{n}",
                   object_type=object_type, object_id=object_id, policy=f"cadence:{tier}", owner_id=owner_id,
                   due_at=due, status="planned", step=n)
    if claim(work.session, row):
        work.plan("run_cadence_step", work.tenant_id, (row.id,), due, job_key("cadence", row.id))


@job(SLA, name="run_cadence_step", timeout=120)
def run_cadence_step(tenant_id: int, row_id: int) -> str:
    """Create one cadence step's task, unless the lead engaged (then the cadence stops)."""

    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        row = SlaTimer.get_for_tenant(session, row_id, tenant_id)
        if work is None or row is None:
            return "stale"
        return take_step(work, row)


def take_step(work: Work, row: SlaTimer) -> str:
    if row.status != "planned":
        return "stale"
    tier, n = row.policy.removeprefix("cadence:"), row.step
    steps = steps_for(work, tier)
    start = decision(work, f"{start_key(row.object_type, row.object_id, tier)}:start")
    if start is None or n >= len(steps):
        return _stop(work, row, "cancelled", "the cadence was removed from the rules")
    hold = hold_on(work.session, work.tenant_id, row.object_type, row.object_id)
    if hold is not None:
        return _stop(work, row, "paused", f"handoff hold {hold.kind}: {hold.reason}")
    why = _engaged(work, row, start.inputs, n)
    if why is not None:
        return _stop(work, row, "paused", why)
    row.status = "creating"
    work.session.commit()  # before the CRM call: a retried job never creates the step's task twice
    lead = lead_facts((route_decision(work, row.object_type, row.object_id) or start).inputs)
    step, at = steps[n], work.now()
    with released_on_error(work.session, lambda: setattr(row, "status", "planned")):
        row.task_id = work.adapter.create_task(TaskSpec(
            subject=f"Follow-up {n + 1}/{len(steps)}: {step.task} {lead_name(lead)}",
            body=f"Step {n + 1} of the {tier} follow-up cadence LeadRelay runs for this lead.",
            due_at=at, owner_id=row.owner_id, record_type=row.object_type, record_id=row.object_id,
            kind=step.task, priority="medium"))
    row.status, row.due_at = "created", at  # when the step really ran: engagement counts from here
    work.session.commit()
    if n + 1 < len(steps):
        since = dt.datetime.fromisoformat(start.inputs["since"])
        _plan(work, row.object_type, row.object_id, tier, row.owner_id, n + 1,
              max(due_at(since, steps[n + 1].after, business_hours=False), work.now()))
    else:
        audit(work, f"{start_key(row.object_type, row.object_id, tier)}:end", "cadence", row, "ended",
              f"All {len(steps)} follow-up steps created")
    return "created"


def _engaged(work: Work, row: SlaTimer, start: dict, n: int) -> str | None:
    pause_on = set(work.rules.cadences.pause_on)
    record = work.adapter.get_record(row.object_type, row.object_id)
    if record is None:
        return "the lead is gone"
    if record.id != row.object_id:  # merged into a record with a new id (HubSpot): the cadence goes on there
        remap_merged(work.session, work.tenant_id, row.object_type, [row.object_id], record.id)
        work.session.commit()
        if row.status != "planned":
            return f"merged into {record.id}, which has its own cadence"
    status = str(record.fields.get("lead_status") or "").lower()
    if status in DISQUALIFIED:
        return f"the lead was disqualified ({status})"
    now_at = (record.fields.get("lifecycle_stage"), record.fields.get("lead_status"))
    if "stage_change" in pause_on and now_at != (start.get("stage"), start.get("lead_status")):
        return f"the lead's stage moved ({start.get('stage')}/{start.get('lead_status')} → {now_at[0]}/{now_at[1]})"
    previous = timers_of_lead(work, row.object_type, row.object_id, prefix=row.key.rsplit(":", 1)[0] + ":")
    since = dt.datetime.fromisoformat(start["since"])
    # a created step's due_at is when it ran; CRMs keep activity times to the second, so compare whole seconds
    since = max([since, *(t.due_at.replace(microsecond=0) for t in previous if t.step < n)])
    if pause_on & {"reply", "meeting"} and work.adapter.activity_logged_since(row.object_type, row.object_id, since):
        return "the lead engaged (a call, email or meeting was logged)"
    return None


def _stop(work: Work, row: SlaTimer, outcome: str, why: str) -> str:
    row.status = "cancelled"
    audit(work, f"{row.key}:{outcome}", "cadence", row, outcome, f"Cadence stopped before step "
          f"{row.step + 1}: {why}")
    work.session.commit()
    return outcome


def stop_cadence(session: Session, tenant_id: int, object_type: str, object_id: str, why: str) -> int:
    """Cancel a lead's planned cadence steps (disqualified, deal created …); returns how many were cancelled."""
    work = Work(session, tenant_id, adapter=None, rules=None, users=list)  # type: ignore[arg-type] - audit only
    rows = session.scalars(select(SlaTimer).where(
        SlaTimer.tenant_id == tenant_id, SlaTimer.object_type == object_type, SlaTimer.object_id == object_id,
        SlaTimer.policy.startswith("cadence:"), SlaTimer.status == "planned")).all()
    for row in rows:
        _stop(work, row, "paused", why)
    return len(rows)
