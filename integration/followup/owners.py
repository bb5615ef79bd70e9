"""Who an escalation reaches: the owner's manager, or the next available member of the lead's pool."""
from __future__ import annotations

from integration.followup.common import route_decision
from integration.models import SlaTimer
from integration.records import CRMUser
from integration.routing.availability import unavailable_reason
from integration.routing.state import InMemoryPoolState, Slot
from integration.work import Work


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
    pool, now = work.rules.pools[name], work.now()
    slots = [Slot(m.owner, m.weight, m.capacity,
                  "already held this lead" if m.owner in held else
                  unavailable_reason(work.rules.owners_by_email[m.owner], now, work.rules.timezone,
                                     pool.respect_hours)) for m in pool.members]
    state = work.pool_state if work.pool_state is not None else InMemoryPoolState()
    return state.choose(name, pool.strategy, slots).email
