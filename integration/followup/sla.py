"""SLA clocks (DESIGN.md step 8): the first-touch task when a lead is routed, and the check at its due time.

One SlaTimer per lead and policy, keyed `sla:<object_type>:<id>:<tier>` (a reassigned lead's new clock adds
`:r1`, `:r2`); the key is committed before the task is created, so a replayed webhook or a retried job never
creates a second task. The task is a call for a hot lead and an email otherwise (a hot lead is worth a phone
call within minutes; warm and nurture leads are better served by a written first touch the owner can send
whenever their working day starts).

The escalation chain after an SLA breach (integration.followup.escalation): each step its own scheduled job, at the
breach plus its `after`, planned here by job name.

- `notify_manager`: a task for the owner's manager: the CRM user's manager when the CRM knows one
  (Salesforce ManagerId), else the first active rule-set owner with `manager: true`.
- `reassign`: the next available member of the pool the lead came from (members who already held it are
  skipped), else the rule set's fallback; the old task is completed with a note and the new owner gets a task
  and a fresh SLA clock of their own (with the whole chain again). The old clock's later steps stop there.
  A lead reassigned MAX_REASSIGNS times goes to review instead of travelling around the pool.
A late touch (the owner acted after the deadline but before the step) ends the chain as `met_late`.
Each step is keyed `<timer key>:esc<step>`; re-running a step's job changes nothing.

Where the adapter reads activity through an eventually consistent search (its SEARCH_LAG, HubSpot's calls/emails/
meetings search), a call logged a moment before the due time may not be found yet: a check or a step that finds no
touch looks once more, SEARCH_LAG later, before it records a breach or escalates. Adapters that read activity
directly (SEARCH_LAG 0: Salesforce SOQL, Pipedrive's activities list) decide at once.

Escalation builds on this module (a reassignment opens a new clock); this module plans escalation steps by job name
and never imports it. Who an escalation reaches is in followup.owners.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select

from integration import config
from integration.config import get_settings
from integration.crm.merged_records import remap_merged
from integration.db import session_scope
from integration.errors import CRMRateLimited
from integration.followup.business_hours import calendar_for, due_at
from integration.followup.cadences import start_cadence
from integration.followup.common import (
    audit,
    claim,
    duration_text,
    lead_facts,
    look_again,
    possible_duplicate,
    released_on_error,
    route_decision,
    timers_of_lead,
)
from integration.followup.task import FirstTouch, sent_line, task_text
from integration.jobs import job, job_key
from integration.models import OutboundMessage, SlaTimer
from integration.models.outreach import SENT
from integration.queues import SLA
from integration.records import CRMUser, TaskSpec, TaskState
from integration.rules.policies import SlaPolicy
from integration.rules.values import zone
from integration.work import Work, work_for_job

log = logging.getLogger("leadrelay.sla")

TASK_KIND = {"hot": "call"}  # any other tier: "email"
PRIORITY = {"hot": "high", "warm": "medium", "nurture": "low"}
MOVED_TOLERANCE = dt.timedelta(seconds=60)  # Pipedrive keeps due times to the minute
FOLLOWED = "followed"  # handed_over: the lead's record lives under a new id now, and the clock went with it


def policy_for(work: Work, tier: str) -> SlaPolicy | None:
    return getattr(work.rules.sla, tier, None)


def sla_key(object_type: str, object_id: str, tier: str, generation: int = 0) -> str:
    base = f"sla:{object_type}:{object_id}:{tier}"
    return f"{base}:r{generation}" if generation else base


def local_text(work: Work, moment: dt.datetime, email: str | None) -> str:
    tz = work.rules.owner_timezone((email or "").lower())
    return f"{moment.astimezone(zone(tz)):%a %Y-%m-%d %H:%M} ({tz})"


@dataclass
class NewTimer:
    """A claimed SLA clock whose first-touch task is still to be created."""

    timer: SlaTimer
    spec: TaskSpec
    owner: CRMUser


def open_timer(work: Work, object_type: str, object_id: str, owner: CRMUser, tier: str, lead: dict,
               reason: str, generation: int = 0, start: dt.datetime | None = None, *, route: dict | None = None,
               why: str | None = None) -> SlaTimer | None:
    """Start the SLA clock and create the owner's first-touch task, once per key; None when nothing to do."""
    new = start_timer(work, object_type, object_id, owner, tier, lead, reason, generation, start, route=route,
                      why=why)
    if new is None:
        return None
    with released_on_error(work.session, lambda: work.session.delete(new.timer)):
        task_id = work.adapter.create_task(new.spec)
    return task_created(work, new, task_id)


def start_timer(work: Work, object_type: str, object_id: str, owner: CRMUser, tier: str, lead: dict,
                reason: str, generation: int = 0, start: dt.datetime | None = None, *, route: dict | None = None,
                why: str | None = None) -> NewTimer | None:
    """Claim the SLA clock (committed) and say which task to create; None when the policy has none or the key
    was claimed before (a replay or a retry: the task exists, or its creation was already attempted).

    `reason` is the admin's audit reason; the task explains the lead to the rep from `route` (the route
    decision's inputs, read from the decision when not given) or says `why` when the caller knows better
    (a reassignment)."""
    policy = policy_for(work, tier)
    if policy is None:
        return None
    start = start or work.now()
    due = due_at(start, policy.first_touch, policy.business_hours, calendar_for(work.rules, owner.email))
    # the task is written before the claim: a claim whose task could not even be written would lose the task
    spec = first_touch_spec(work, object_type, object_id, owner, tier, policy, due, lead, reason, route, why)
    timer = SlaTimer(tenant_id=work.tenant_id, key=sla_key(object_type, object_id, tier, generation),
                     object_type=object_type, object_id=object_id, policy=tier, owner_id=owner.id, due_at=due,
                     status="pending", created_at=start)
    if not claim(work.session, timer):
        return None
    return NewTimer(timer, spec, owner)


def first_touch_spec(work: Work, object_type: str, object_id: str, owner: CRMUser, tier: str, policy: SlaPolicy,
                     due: dt.datetime, lead: dict, reason: str, route: dict | None, why: str | None) -> TaskSpec:
    """The owner's first-touch task, written for them (integration/followup/task.py)."""
    kind = TASK_KIND.get(tier, "email")
    if route is None:
        decided = route_decision(work, object_type, object_id)
        route = dict(decided.inputs) if decided is not None else {}
    subject, body = task_text(work.rules, FirstTouch(
        kind=kind, tier=tier, first_touch=policy.first_touch, business_hours=policy.business_hours, due=due,
        timezone=work.rules.owner_timezone(owner.email.lower()), owner_email=owner.email, lead=lead, route=route,
        reason=reason, url=work.adapter.record_url(object_type, object_id), why=why,
        duplicate=possible_duplicate(work, object_type, object_id), time_scale=config.time_scale()))
    sent = acknowledgments(work, object_type, object_id, work.rules.owner_timezone(owner.email.lower()))
    body = "\n\n".join([body, "\n".join(sent)]) if sent else body
    return TaskSpec(subject=subject, body=body, due_at=due, owner_id=owner.id, record_type=object_type,
                    record_id=object_id, kind=kind, priority=PRIORITY.get(tier, "medium"))


def acknowledgments(work: Work, object_type: str, object_id: str, timezone: str) -> list[str]:
    """What the lead already received from LeadRelay (the outbox's sent rows), one task line each."""
    if not work.rules.first_response.enabled:
        return []  # no acknowledgments: no query on the SLA task's path
    rows = work.session.scalars(select(OutboundMessage).where(
        OutboundMessage.tenant_id == work.tenant_id, OutboundMessage.object_type == object_type,
        OutboundMessage.object_id == object_id, OutboundMessage.status == SENT).order_by(OutboundMessage.id))
    to_owner = work.rules.first_response.reply_to == "owner"
    return [sent_line(r.channel, r.subject or r.body or "", (r.accepted_at or r.created_at).astimezone(zone(timezone)),
                      to_owner) for r in rows]


def refresh_task_body(work: Work, object_type: str, object_id: str) -> None:
    """The owner's first-touch task says what the lead already received: its body rebuilt (the original text plus
    one line per message sent), once per number of lines; a task created later includes them from the start."""
    timer = next((t for t in timers_of_lead(work, object_type, object_id) if t.task_id
                  and t.key == sla_key(object_type, object_id, t.policy)), None)
    owner = work.user(timer.owner_id) if timer else None
    policy = policy_for(work, timer.policy) if timer else None
    route = route_decision(work, object_type, object_id)
    if timer is None or owner is None or policy is None or route is None:
        return
    spec = first_touch_spec(work, object_type, object_id, owner, timer.policy, policy, timer.due_at,
                            lead_facts(route.inputs), route.reason, dict(route.inputs), None)
    lines = len(acknowledgments(work, object_type, object_id, "UTC"))
    told = audit(work, f"{timer.key}:told:{lines}", "sla", timer, "task_updated",
                 f"The task now says what the lead already received ({lines} message{'s' if lines != 1 else ''})")
    if told is None:
        return
    with released_on_error(work.session, lambda: work.session.delete(told)):
        work.adapter.update_task(timer.task_id, body=spec.body)


def task_created(work: Work, new: NewTimer, task_id: str) -> SlaTimer:
    """The CRM created the timer's task: keep its id, audit it, and plan the check at the due time."""
    timer, spec, email = new.timer, new.spec, new.owner.email
    timer.task_id = task_id
    audit(work, f"{timer.key}:task", "sla", timer, "task_created",
          f"{spec.kind.capitalize()} task for {email}, due {local_text(work, timer.due_at, email)}",
          {"task_id": task_id, "owner_id": new.owner.id, "due_at": timer.due_at.isoformat(), "tier": timer.policy})
    plan_check(work, timer)
    return timer


@job(SLA, name="open_sla_task", timeout=120)
def open_sla_task(tenant_id: int, object_type: str, object_id: str) -> str:
    """The first-touch task again, from the route decision, after the CRM refused it during routing (429, 5xx)."""

    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        route = route_decision(work, object_type, object_id) if work else None
        owner = work.user(route.inputs.get("owner_id")) if route else None
        if work is None or route is None or owner is None:
            return "stale"
        try:
            timer = open_timer(work, object_type, object_id, owner, route.inputs.get("tier") or "nurture",
                               lead_facts(route.inputs), route.reason, route=dict(route.inputs))
        except CRMRateLimited as exc:
            retry_later(tenant_id, object_type, object_id, exc.retry_after)
            return "rate-limited"
        return "created" if timer else "exists"


def retry_later(tenant_id: int, object_type: str, object_id: str, delay: float | None) -> None:
    open_sla_task.enqueue(tenant_id, object_type, object_id, delay=max(1.0, delay or 10.0),
                          job_id=job_key("sla-open", tenant_id, object_type, object_id))


def plan_check(work: Work, timer: SlaTimer) -> None:
    """The check at the timer's due time; the due time is part of the job id, so a re-planned check is a new
    job and the old one finds a different due time and does nothing."""
    due = int(timer.due_at.timestamp())
    work.plan("check_sla", work.tenant_id, (timer.id, due), timer.due_at, job_key("sla-check", timer.id, due))


@job(SLA, name="check_sla", timeout=120)
def check_sla(tenant_id: int, timer_id: int, due: int, settled: bool = False) -> str:
    """At the due time: met, re-planned (the task's due time moved) or breached (then escalation starts); an
    untouched lead is first looked at again after the CRM's search lag (`settled`: this is that second look)."""

    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        timer = SlaTimer.get_for_tenant(session, timer_id, tenant_id)
        if work is None or timer is None or int(timer.due_at.timestamp()) != due:
            return "stale"
        return check_timer(work, timer, settled)


def check_timer(work: Work, timer: SlaTimer, settled: bool = False) -> str:
    """Met, re-planned, breached, or "rechecking" (looked at again after the search lag); "stale" when the timer
    was decided already."""
    if timer.status != "pending":
        return "stale"
    task = work.adapter.get_task(timer.task_id) if timer.task_id else None
    touched = touched_at(work, timer, task)
    if touched is not None:
        met(work, timer, touched, "met")
        return "met"
    if (elsewhere := handed_over(work, timer)) == FOLLOWED:
        return check_timer(work, timer, settled) if timer.status == "pending" else "merged"
    if elsewhere is not None:
        return elsewhere
    if task is not None and (moved := moved_due(task.due_at, timer.due_at)) and moved > work.now():
        old, timer.due_at = timer.due_at, moved
        audit(work, f"{timer.key}:due:{int(moved.timestamp())}", "sla", timer, "replanned",
              f"The task's due time moved from {old.isoformat()} to {moved.isoformat()}")
        plan_check(work, timer)
        return "replanned"
    due = int(timer.due_at.timestamp())
    if not settled and look_again(work, "check_sla", (timer.id, due, True), job_key("sla-settle", timer.id, due)):
        return "rechecking"
    breach(work, timer)
    return "breached"


def handed_over(work: Work, timer: SlaTimer) -> str | None:
    """The lead left LeadRelay's hands since it set the owner: the clock stops and nothing escalates.

    "handed_over": a person gave it to someone else in the CRM (LeadRelay never overrides that choice);
    "gone": the record was merged away or deleted. Audited either way; None when neither happened.
    FOLLOWED: the lead was merged into a record with another id (HubSpot answers the old id with the merged record)
    and its clock moved there with everything LeadRelay keeps of it: the caller checks again under the new id.
    """
    record = work.adapter.get_record(timer.object_type, timer.object_id)
    if record is not None and record.id != timer.object_id:
        remap_merged(work.session, work.tenant_id, timer.object_type, [timer.object_id], record.id)
        work.session.commit()
        return FOLLOWED
    before = work.user(timer.owner_id)
    who = before.email if before else timer.owner_id
    if record is None:
        outcome, reason = "gone", f"The lead of {who} is no longer in the CRM (merged or deleted): the clock stops"
    elif record.owner_id and str(record.owner_id) != str(timer.owner_id):
        now_owner = work.user(record.owner_id)
        outcome = "handed_over"
        reason = (f"Someone gave the lead from {who} to {now_owner.email if now_owner else record.owner_id} in the "
                  f"CRM: no SLA check, no escalation")
    else:
        return None
    timer.status = outcome
    audit(work, f"{timer.key}:{outcome}", "sla", timer, outcome, reason,
          {"owner_id": timer.owner_id, "new_owner_id": str(record.owner_id) if record else None,
           "tier": timer.policy})
    work.session.commit()
    log.info(f"sla.{outcome.replace('_', '-')}", extra={"tenant_id": work.tenant_id, "timer": timer.key})
    return outcome


def touched_at(work: Work, timer: SlaTimer, task: TaskState | None) -> dt.datetime | None:
    """When the owner acted: the task completed, or a call/email/meeting logged since the clock started."""
    now = work.now()
    if task is not None and task.done:
        return task.completed_at if task.completed_at and task.completed_at <= now else now
    if work.adapter.activity_logged_since(timer.object_type, timer.object_id, timer.created_at):
        return now  # the adapter tells whether, not when: the check time is the upper bound
    return None


def moved_due(task_due: dt.datetime | None, timer_due: dt.datetime) -> dt.datetime | None:
    """The task's new due time when someone moved it in the CRM, else None."""
    if task_due is None:
        return None
    if task_due.timetz().replace(tzinfo=None) == dt.time(0) and task_due.tzinfo is not None:
        # date-only platforms (Salesforce ActivityDate): a moved date keeps the clock's time of day
        days = (task_due.date() - timer_due.astimezone(dt.UTC).date()).days
        return timer_due + dt.timedelta(days=days) if days else None
    return task_due if abs(task_due - timer_due) > MOVED_TOLERANCE else None


def met(work: Work, timer: SlaTimer, touched: dt.datetime, outcome: str) -> None:
    """Record the first touch (time from routing, for the KPIs) and start the tier's cadence."""
    routed = timers_of_lead(work, timer.object_type, timer.object_id)[0].created_at
    seconds = max(0, round((touched - routed).total_seconds()))
    timer.status = outcome
    owner = work.user(timer.owner_id)
    audit(work, f"{timer.key}:met", "sla", timer, outcome,
          f"First touch by {owner.email if owner else timer.owner_id} "
          f"{f'{seconds // 60} min' if seconds >= 60 else f'{seconds} s'} after routing"
          f"{' (after the deadline)' if outcome == 'met_late' else ''}",
          {"first_touch_seconds": seconds, "owner_id": timer.owner_id, "tier": timer.policy})
    work.session.commit()
    start_cadence(work, timer)


def breach(work: Work, timer: SlaTimer) -> None:
    """Record the breach with a one-line reason, then plan the first escalation step."""
    owner = work.user(timer.owner_id)
    email = owner.email if owner else timer.owner_id
    policy = policy_for(work, timer.policy)
    timer.status = "breached"
    audit(work, f"{timer.key}:breach", "sla", timer, "breached",
          f"No first touch on the {timer.policy} lead by {email} within "
          f"{duration_text(policy.first_touch) if policy else '?'} (due {local_text(work, timer.due_at, email)})",
          {"owner_id": timer.owner_id, "tier": timer.policy, "due_at": timer.due_at.isoformat()})
    work.session.commit()
    log.info("sla.breached", extra={"tenant_id": work.tenant_id, "timer": timer.key})
    plan_step(work, timer, 0)


def plan_step(work: Work, timer: SlaTimer, step: int) -> None:
    """Plan escalation step `step` of a breached timer (integration.followup.escalation runs it), by job name:
    the escalation module builds on this one, never the other way round."""
    policy = policy_for(work, timer.policy)
    if policy is None or step >= len(policy.escalate):
        return
    owner = work.user(timer.owner_id)
    at = due_at(timer.due_at, policy.escalate[step].after, policy.business_hours,
                calendar_for(work.rules, owner.email if owner else None))
    work.plan("escalate_sla", work.tenant_id, (timer.id, step), at, job_key("sla-escalate", timer.id, step))
