"""SLA and cadence KPIs for the console and the demo report, read from timers and `sla`/`cadence` decisions."""
from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.models import Decision, SlaTimer

ESCALATIONS = ("notify_manager", "no_manager", "reassigned", "review")
RECENT = 50


def _outcomes(session: Session, tenant_id: int, kind: str) -> dict[str, int]:
    rows = session.execute(select(Decision.outcome, func.count()).where(
        Decision.tenant_id == tenant_id, Decision.kind == kind).group_by(Decision.outcome)).all()
    return {outcome: count for outcome, count in rows}


def _timer_states(session: Session, tenant_id: int, cadence: bool) -> dict[str, int]:
    policy = SlaTimer.policy.startswith("cadence:")
    rows = session.execute(select(SlaTimer.status, func.count()).where(
        SlaTimer.tenant_id == tenant_id, policy if cadence else ~policy).group_by(SlaTimer.status)).all()
    return {status: count for status, count in rows}


def _first_touch(session: Session, tenant_id: int) -> dict[str, Any]:
    rows = session.execute(select(Decision.object_type, Decision.object_id, Decision.inputs, Decision.created_at)
                           .where(Decision.tenant_id == tenant_id, Decision.kind == "sla",
                                  Decision.outcome.in_(("met", "met_late")))
                           .order_by(Decision.created_at.desc())).all()
    per_lead: dict[tuple[str, str], dict[str, Any]] = {}
    for object_type, object_id, inputs, _created in rows:  # newest first: a reassigned lead keeps its last touch
        per_lead.setdefault((object_type, object_id), {
            "object_type": object_type, "object_id": object_id, "tier": inputs.get("tier"),
            "seconds": inputs.get("first_touch_seconds")})
    seconds = sorted(v["seconds"] for v in per_lead.values() if v["seconds"] is not None)
    return {
        "leads": len(seconds),
        "median_seconds": statistics.median(seconds) if seconds else None,
        "p90_seconds": seconds[min(len(seconds) - 1, int(len(seconds) * 0.9))] if seconds else None,
        "per_lead": list(per_lead.values())[:RECENT],
    }


def sla_figures(session: Session, tenant_id: int) -> dict[str, Any]:
    """Tasks created, SLA met/breached/pending, escalations, cadence steps and time to first touch."""
    sla, cadence = _outcomes(session, tenant_id, "sla"), _outcomes(session, tenant_id, "cadence")
    timers, steps = _timer_states(session, tenant_id, False), _timer_states(session, tenant_id, True)
    met, breached = sla.get("met", 0), sla.get("breached", 0)
    return {
        "tasks_created": sla.get("task_created", 0),
        "sla_met": met,
        "sla_met_late": sla.get("met_late", 0),
        "sla_breached": breached,
        "sla_pending": timers.get("pending", 0),
        "sla_met_rate": round(met / (met + breached), 3) if met + breached else None,
        "escalations": sum(sla.get(o, 0) for o in ESCALATIONS),
        "managers_notified": sla.get("notify_manager", 0),
        "reassigned": sla.get("reassigned", 0),
        "sent_to_review": sla.get("review", 0),
        "cadences_started": cadence.get("started", 0),
        "cadence_steps_done": steps.get("created", 0),
        "cadences_paused": cadence.get("paused", 0),
        "cadences_ended": cadence.get("ended", 0),
        "time_to_first_touch": _first_touch(session, tenant_id),
    }
