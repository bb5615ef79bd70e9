"""The escalation chain after an SLA breach: each step its own scheduled job, at the breach plus its `after`.

- `notify_manager`: a task for the owner's manager: the CRM user's manager when the CRM knows one
  (Salesforce ManagerId), else the first active rule-set owner with `manager: true`.
- `reassign`: the next available member of the pool the lead came from (members who already held it are
  skipped), else the rule set's fallback; the old task is completed with a note and the new owner gets a task
  and a fresh SLA clock of their own (with the whole chain again). The old clock's later steps stop there.
  A lead reassigned MAX_REASSIGNS times goes to review instead of travelling around the pool.
A late touch (the owner acted after the deadline but before the step) ends the chain as `met_late`.
Each step is keyed `<timer key>:esc<step>`; re-running a step's job changes nothing.
"""
from __future__ import annotations

from integration.business_hours import calendar_for, due_at
from integration.jobs import job, job_key
from integration.models import ReviewItem, SlaTimer
from integration.queues import SLA
from integration.records import CRMUser, TaskSpec
from integration.routing.availability import unavailable_reason
from integration.routing.state import Slot
from integration.sla import handed_over, local_text, met, open_timer, policy_for, touched_at
from integration.sla_context import (
    Work,
    audit,
    count_decisions,
    decision,
    lead_facts,
    lead_name,
    next_second,
    released_on_error,
    route_decision,
    timers_of_lead,
    update_inputs,
    work_for_job,
)

MAX_REASSIGNS = 2


def plan_step(work: Work, timer: SlaTimer, step: int) -> None:
    policy = policy_for(work, timer.policy)
    if policy is None or step >= len(policy.escalate):
        return
    owner = work.user(timer.owner_id)
    at = due_at(timer.due_at, policy.escalate[step].after, policy.business_hours,
                calendar_for(work.rules, owner.email if owner else None))
    work.plan(escalate_sla, work.tenant_id, (timer.id, step), at, job_key("sla-escalate", timer.id, step))


@job(SLA, timeout=120)
def escalate_sla(tenant_id: int, timer_id: int, step: int) -> str:
    """Run one escalation step of a breached timer (a no-op when it ran already or the chain ended)."""
    from integration.config import get_settings
    from integration.db import session_scope

    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        timer = SlaTimer.get_for_tenant(session, timer_id, tenant_id)
        if work is None or timer is None:
            return "stale"
        return run_step(work, timer, step)


def run_step(work: Work, timer: SlaTimer, step: int) -> str:
    policy = policy_for(work, timer.policy)
    if timer.status != "breached" or timer.escalation_step != step or policy is None \
            or step >= len(policy.escalate):
        return "stale"
    task = work.adapter.get_task(timer.task_id) if timer.task_id else None
    if (touched := touched_at(work, timer, task)) is not None:
        met(work, timer, touched, "met_late")
        return "met_late"
    if (elsewhere := handed_over(work, timer)) is not None:  # reassigned by a person, or merged away
        return elsewhere
    action = policy.escalate[step].action
    outcome = notify_manager(work, timer, step) if action == "notify_manager" else reassign(work, timer, step)
    if timer.status == "breached":  # the chain goes on (reassign and review end it)
        timer.escalation_step = step + 1
        work.session.commit()
        plan_step(work, timer, step + 1)
    return outcome


def manager_of(work: Work, owner_id: str | None) -> CRMUser | None:
    owner = work.user(owner_id)
    crm_manager = work.user(owner.manager_id) if owner and owner.manager_id else None
    if crm_manager is not None and crm_manager.active:
        return crm_manager
    for entry in work.rules.owners:
        user = work.user_by_email(entry.email) if entry.manager and entry.active else None
        if user is not None and user.active and user.id != owner_id:
            return user
    return None


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


def next_owner(work: Work, timer: SlaTimer, held: set[str]) -> tuple[str | None, str]:
    """The next available member of the lead's pool who has not held it, else the fallback's."""
    route = route_decision(work, timer.object_type, timer.object_id)
    pool = _pool_of(work, route.reason if route else "")
    if pool is not None and (email := _pick(work, pool, held)):
        return email, f"pool {pool} → {email}"
    target = work.rules.fallback
    if target.pool and (email := _pick(work, target.pool, held)):
        return email, f"fallback pool {target.pool} → {email}"
    owner = work.rules.owners_by_email.get(target.owner or "")
    if owner is not None and owner.active and owner.email not in held:
        return owner.email, f"fallback → {owner.email}"
    return None, f"pool {pool or '-'} and the fallback have nobody available who has not held it"


def _pool_of(work: Work, reason: str) -> str | None:
    """The pool that delivered the lead, read from the route decision's reason ("… pool west → alice@…")."""
    found = [(reason.rfind(f"pool {name} → "), name) for name in work.rules.pools]
    position, name = max(found, default=(-1, None))
    return name if position >= 0 else None


def _pick(work: Work, name: str, held: set[str]) -> str | None:
    from integration.routing.state import InMemoryPoolState

    pool, now = work.rules.pools[name], work.now()
    slots = [Slot(m.owner, m.weight, m.capacity,
                  "already held this lead" if m.owner in held else
                  unavailable_reason(work.rules.owners_by_email[m.owner], now, work.rules.timezone,
                                     pool.respect_hours)) for m in pool.members]
    state = work.pool_state if work.pool_state is not None else InMemoryPoolState()
    return state.choose(name, pool.strategy, slots).email
