"""What SLA checks, escalations and cadences share: audit and exactly-once helpers, the lead as routing saw it."""
from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.models import Decision, ReviewItem, SlaTimer
from integration.work import Work, route_key


@dataclass(frozen=True)
class Duplicate:
    """A record the lead may be the same person as (an open dedup review item), as the rep's task shows it."""

    url: str
    name: str | None = None
    score: float | None = None
    reasons: tuple[str, ...] = ()


def look_again(work: Work, name: str, args: tuple, key: str) -> bool:
    """Plan the job `name` with `args` once more after the CRM's search lag, when "no touch" was read through a
    search that may not see a call logged a moment ago; False (nothing planned) where the adapter's reads see
    writes at once."""
    lag = work.adapter.SEARCH_LAG
    if lag <= dt.timedelta(0):
        return False
    work.plan(name, work.tenant_id, args, work.now() + lag, key)
    return True


def claim(session: Session, row: Any) -> bool:
    """Insert a keyed row (timer, decision) and commit it; False when that key exists already.

    The key is committed BEFORE the CRM is called, so a replay or a retried job finds it and writes
    nothing twice (a crash between the commit and the CRM call loses that one write: at most once).
    """
    session.commit()  # what came before stays decided, so losing the race below rolls back only the row
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


@contextlib.contextmanager
def released_on_error(session: Session, release: Callable[[], None]) -> Iterator[None]:
    """Around a CRM write after a claim: when the CRM refused (error raised), give the claim back and commit,
    so the retried job can write; the error goes on to the job (retry, or Retry-After for a 429)."""
    try:
        yield
    except Exception:
        session.rollback()
        release()
        session.commit()
        raise


def decision(work: Work, key: str) -> Decision | None:
    return work.session.scalar(Decision.for_tenant(work.tenant_id).where(Decision.idempotency_key == key))


def audit(work: Work, key: str, kind: str, timer: SlaTimer, outcome: str, reason: str,
          inputs: dict | None = None) -> Decision | None:
    """Record a decision once (by key) and commit; None when it was recorded before."""
    row = Decision(tenant_id=work.tenant_id, idempotency_key=key[:200], kind=kind, object_type=timer.object_type,
                   object_id=timer.object_id, outcome=outcome[:200], reason=reason[:500], inputs=inputs or {})
    return row if claim(work.session, row) else None


def update_inputs(work: Work, row: Decision, **values: Any) -> None:
    row.inputs = {**row.inputs, **values}  # a new dict: JSON columns only see reassignment
    work.session.commit()


def route_decision(work: Work, object_type: str, object_id: str) -> Decision | None:
    return decision(work, route_key(object_type, object_id))


def lead_facts(inputs: dict[str, Any]) -> dict[str, Any]:
    """The lead as the route decision stored it (normalized fields)."""
    return dict(inputs.get("lead") or {})


def lead_name(lead: dict[str, Any]) -> str:
    """The lead's full name ("Sven Larsson"), else its email, company or id."""
    name = " ".join(str(lead[k]).strip() for k in ("first_name", "last_name") if lead.get(k))
    return name or str(lead.get("email") or lead.get("company") or f"lead {lead.get('id', '')}".strip())


def possible_duplicate(work: Work, object_type: str, object_id: str) -> Duplicate | None:
    """The record an open dedup review says this lead may be (its link, name, score and reasons), else None."""
    item = work.session.scalar(ReviewItem.for_tenant(work.tenant_id).where(
        ReviewItem.kind == "dedup", ReviewItem.status == "open", ReviewItem.object_type == object_type,
        ReviewItem.object_id == object_id, ReviewItem.other_object_id.is_not(None))
        .order_by(ReviewItem.id.desc()).limit(1))
    if item is None:
        return None
    payload = item.payload or {}
    score = payload.get("score")
    return Duplicate(url=work.adapter.record_url(object_type, str(item.other_object_id)),
                     name=(payload.get("other") or {}).get("name"),
                     score=float(score) if isinstance(score, int | float) else None,
                     reasons=tuple(str(r) for r in payload.get("reasons") or ()))


def duration_text(delta: dt.timedelta) -> str:
    """A duration the way the rule set writes it: 5m, 4h, 2d (or a combination: 1d 4h)."""
    minutes = int(delta.total_seconds() // 60)
    parts = [(minutes // 1440, "d"), (minutes % 1440 // 60, "h"), (minutes % 60, "m")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0m"


def next_second(moment: dt.datetime) -> dt.datetime:
    """The next whole second after `moment`: CRMs compare activity times at second precision (SOQL), so a
    clock that starts here does not count what was written in the same second (e.g. closing the old task)."""
    return dt.datetime.fromtimestamp(math.floor(moment.timestamp()) + 1, dt.UTC)


def timers_of_lead(work: Work, object_type: str, object_id: str, prefix: str = "sla:") -> list[SlaTimer]:
    return list(work.session.scalars(SlaTimer.for_tenant(work.tenant_id).where(
        SlaTimer.object_type == object_type, SlaTimer.object_id == object_id,
        SlaTimer.key.startswith(prefix)).order_by(SlaTimer.id)))


def count_decisions(work: Work, object_type: str, object_id: str, kind: str, outcome: str) -> int:
    return len(work.session.scalars(select(Decision.id).where(
        Decision.tenant_id == work.tenant_id, Decision.object_type == object_type,
        Decision.object_id == object_id, Decision.kind == kind, Decision.outcome == outcome)).all())
