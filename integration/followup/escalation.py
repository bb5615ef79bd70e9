"""Escalation after an SLA breach: each step its own scheduled job (planned by `sla.plan_step`), at the breach plus
the step's `after`; see integration.followup.sla for the chain, its keys and the second look after the search lag."""
from __future__ import annotations

from integration.config import get_settings
from integration.db import session_scope
from integration.followup.common import (
    audit,
    count_decisions,
    decision,
    lead_facts,
    lead_name,
    look_again,
    next_second,
    released_on_error,
    route_decision,
    timers_of_lead,
    update_inputs,
)
from integration.followup.owners import manager_of, next_owner
from integration.followup.sla import (
    FOLLOWED,
    handed_over,
    local_text,
    met,
    open_timer,
    plan_step,
    policy_for,
    touched_at,
)
from integration.jobs import job, job_key
from integration.models import ReviewItem, SlaTimer
from integration.queues import SLA
from integration.records import TaskSpec
from integration.work import Work, work_for_job

MAX_REASSIGNS = 2


@job(SLA, name="escalate_sla", timeout=120)
def escalate_sla(tenant_id: int, timer_id: int, step: int, settled: bool = False) -> str:
    """Run one escalation step of a breached timer (a no-op when it ran already or the chain ended); `settled`: the
    second look after the CRM's search lag."""
    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        timer = SlaTimer.get_for_tenant(session, timer_id, tenant_id)
        if work is None or timer is None:
            return "stale"
        return escalate(work, timer, step, settled)


def escalate(work: Work, timer: SlaTimer, step: int, settled: bool = False) -> str:
    """One escalation step: a late touch ends the chain, else the step's action, then the next step is planned."""
    policy = policy_for(work, timer.policy)
    if timer.status != "breached" or timer.step != step or policy is None \
            or step >= len(policy.escalate):
        return "stale"
    task = work.adapter.get_task(timer.task_id) if timer.task_id else None
    if (touched := touched_at(work, timer, task)) is not None:
        met(work, timer, touched, "met_late")
        return "met_late"
    if (elsewhere := handed_over(work, timer)) == FOLLOWED:
        return escalate(work, timer, step, settled) if timer.status == "breached" else "merged"
    if elsewhere is not None:  # reassigned by a person, or merged away
        return elsewhere
    if not settled and look_again(work, "escalate_sla", (timer.id, step, True),
                                  job_key("sla-escalate-settle", timer.id, step)):
        return "rechecking"
    action = policy.escalate[step].action
    outcome = notify_manager(work, timer, step) if action == "notify_manager" else reassign(work, timer, step)
    if timer.status == "breached":  # the chain goes on (reassign and review end it)
        timer.step = step + 1
        work.session.commit()
        plan_step(work, timer, step + 1)
    return outcome


def notify_manager(work: Work, timer: SlaTimer, step: int) -> str:
    key = f"{timer.key}:esc{step}"
    row = decision(work, key)
    if row is None:
        manager, owner = manager_of(work, timer.owner_id), work.user(timer.owner_id)
        who = owner.email if owner else timer.owner_id
        reason = (f"SLA missed by {who}: {manager.email} asked to step in" if manager
                  else f"SLA missed by {who}: no manager to notify (none in the CRM or the rule set)")
        row = audit(work, key, "sla", timer, "notify_manager" if manager else "no_manager", reason,
                    {"manager_id": manager.id if manager else None, "owner_id": timer.owner_id})
    if row is None or not row.inputs.get("manager_id") or row.inputs.get("claimed"):
        return "notified"
    update_inputs(work, row, claimed=True)  # committed before the CRM call: at most one manager task
    lead = lead_facts((route_decision(work, timer.object_type, timer.object_id) or row).inputs)
    owner = work.user(timer.owner_id)
    with released_on_error(work.session, lambda: setattr(row, "inputs", {**row.inputs, "claimed": False})):
        task_id = work.adapter.create_task(TaskSpec(
            subject=f"SLA missed: {lead_name(lead)} ({owner.name if owner else timer.owner_id})",
            body=(f"{owner.email if owner else timer.owner_id} has not touched this {timer.policy} lead; it was "
                  f"due {local_text(work, timer.due_at, owner.email if owner else None)}. Follow up or take it."),
            due_at=work.now(), owner_id=row.inputs["manager_id"], record_type=timer.object_type,
            record_id=timer.object_id, kind="todo", priority="high"))
    update_inputs(work, row, task_id=task_id)
    return "notified"


def reassign(work: Work, timer: SlaTimer, step: int) -> str:
    key = f"{timer.key}:esc{step}"
    row = decision(work, key) or _plan_reassign(work, timer, key)
    if row is None or row.outcome == "review":
        timer.status = "review"
        work.session.commit()
        return "review"
    new_owner = work.user(row.inputs["to_id"])
    work.adapter.set_owner(timer.object_type, timer.object_id, new_owner.id)  # idempotent
    if timer.task_id and not row.inputs.get("closed"):
        work.adapter.complete_task(timer.task_id, note=f"Reassigned by LeadRelay to {new_owner.name}: {row.reason}")
        update_inputs(work, row, closed=True)
    lead = lead_facts((route_decision(work, timer.object_type, timer.object_id) or row).inputs)
    before = work.user(timer.owner_id)
    why = (f"{before.name or before.email if before else 'its first owner'} had it first and did not reach them in "
           f"time, so LeadRelay passed it on to the next person available: you.")
    open_timer(work, timer.object_type, timer.object_id, new_owner, timer.policy, lead, row.reason,
               generation=row.inputs["generation"], start=next_second(work.now()), why=why)
    timer.status = "reassigned"
    work.session.commit()
    return "reassigned"


def _plan_reassign(work: Work, timer: SlaTimer, key: str):
    done = count_decisions(work, timer.object_type, timer.object_id, "sla", "reassigned")
    owner = work.user(timer.owner_id)
    who = owner.email if owner else str(timer.owner_id)
    if done >= MAX_REASSIGNS:
        return _to_review(work, timer, key, f"SLA missed again by {who} after {done} reassignments: a human decides")
    held = {work.user(t.owner_id).email for t in timers_of_lead(work, timer.object_type, timer.object_id)
            if work.user(t.owner_id)}
    email, how = next_owner(work, timer, held)
    user = work.user_by_email(email) if email else None
    if user is None or not user.active:
        return _to_review(work, timer, key, f"SLA missed by {who}; nobody else can take the lead ({how})")
    if work.pool_state is not None and owner is not None:
        work.pool_state.release(owner.email)
    return audit(work, key, "sla", timer, "reassigned", f"SLA missed by {who} → {how}",
                 {"from_id": timer.owner_id, "to_id": user.id, "to": user.email, "generation": done + 1})


def _to_review(work: Work, timer: SlaTimer, key: str, reason: str):
    row = audit(work, key, "sla", timer, "review", reason, {"owner_id": timer.owner_id})
    if row is not None:
        work.session.add(ReviewItem(tenant_id=work.tenant_id, kind="sla", object_type=timer.object_type,
                                    object_id=timer.object_id, reason=reason[:500]))
        work.session.commit()
    return row
