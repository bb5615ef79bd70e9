"""The agency portfolio: every linked portal with its health and KPIs in one sortable table."""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.admin.health import SEVERITY, Health
from integration.models import Decision, EventRecord, Tenant, utcnow
from marketplace.params import choice_arg
from marketplace.tenant_health import View, health_of, view

SORT_KEYS = ("name", "platform", "health", "headroom", "leads", "review_pct", "speed_ms", "last_webhook", "failed")


@dataclass
class PortalRow:
    tenant: Tenant
    health: Health  # the same answer as the tenant's health page and /healthz
    last_webhook: dt.datetime | None
    leads: int
    review_pct: float | None
    speed_ms: int | None
    failed: int

    @property
    def headroom(self) -> float | None:
        """The portal's most used API budget, % left (None: unknown, Redis did not answer)."""
        return self.health.facts.headroom_percent

    @property
    def waiting(self) -> dict[str, int]:
        """Work class -> its calls that waited for the portal's budget in the last 10 minutes."""
        return self.health.facts.waiting

    @property
    def pill(self) -> View:
        return view(self.health, self.tenant.platform)

    def sort_value(self, key: str):
        value = self.tenant.name.lower() if key == "name" else self.tenant.platform if key == "platform" \
            else SEVERITY[self.health.state] if key == "health" else getattr(self, key)
        # missing values sort last whatever the direction
        return (value is None, value if value is not None else 0)


def portfolio(db: Session, tenants: list[Tenant], days: int = 30) -> list[PortalRow]:
    """One row per portal: the health model's grouped queries, failures, and the window's route decisions."""
    ids, now = [t.id for t in tenants], utcnow()
    since = now - dt.timedelta(days=days)
    health = health_of(db, tenants)
    failed = dict(db.execute(select(EventRecord.tenant_id, func.count()).where(
        EventRecord.tenant_id.in_(ids), EventRecord.status == "failed").group_by(EventRecord.tenant_id)).all())
    routes: dict[int, list[Decision]] = {i: [] for i in ids}
    for decision in db.scalars(select(Decision).where(Decision.tenant_id.in_(ids), Decision.kind == "route",
                                                      Decision.created_at >= since)):
        routes[decision.tenant_id].append(decision)
    return [_row(t, routes[t.id], health[t.id], failed.get(t.id, 0)) for t in tenants]


def _row(tenant: Tenant, decisions: list[Decision], health: Health, failed: int) -> PortalRow:
    decisions = [d for d in decisions if d.outcome != "restored"]  # re-created by an undo: not a new lead (as KPIs)
    leads = len(decisions)
    review = sum(d.outcome == "review" for d in decisions)
    speeds = [_speed_ms(d) for d in decisions]
    speeds = [s for s in speeds if s is not None]
    return PortalRow(tenant=tenant, health=health, last_webhook=health.facts.last_webhook, leads=leads,
                     review_pct=round(100 * review / leads, 1) if leads else None,
                     speed_ms=round(statistics.median(speeds)) if speeds else None, failed=failed)


def _speed_ms(decision: Decision) -> float | None:
    written, created = decision.inputs.get("written_at"), decision.inputs.get("crm_created_at")
    if not written or not created:
        return None
    return (dt.datetime.fromisoformat(written) - dt.datetime.fromisoformat(created)).total_seconds() * 1000


def sort_args(args) -> tuple[str, bool]:
    """(column, descending) from ?sort=<column>&desc=0|1; an unknown column is a ParamError (400)."""
    return choice_arg(args, "sort", SORT_KEYS, "name"), choice_arg(args, "desc", ("0", "1"), "0") == "1"


def sorted_rows(rows: list[PortalRow], key: str, descending: bool) -> list[PortalRow]:
    key = key if key in SORT_KEYS else "name"
    return sorted(rows, key=lambda r: r.sort_value(key), reverse=descending)
