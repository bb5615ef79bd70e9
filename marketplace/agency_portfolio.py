"""The agency portfolio: every linked portal with its health and KPIs in one sortable table."""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.models import Credential, Decision, EventRecord, Tenant, utcnow
from marketplace.params import choice_arg

SORT_KEYS = ("name", "platform", "health", "leads", "review_pct", "speed_ms", "last_webhook", "failed")


@dataclass
class PortalRow:
    tenant: Tenant
    health: str
    token_expires: dt.datetime | None
    last_webhook: dt.datetime | None
    leads: int
    review_pct: float | None
    speed_ms: int | None
    failed: int

    def sort_value(self, key: str):
        value = self.tenant.name.lower() if key == "name" else self.tenant.platform if key == "platform" \
            else getattr(self, key)
        # missing values sort last whatever the direction
        return (value is None, value if value is not None else 0)


def _health(tenant: Tenant, expires: dt.datetime | None, last_webhook: dt.datetime | None, now: dt.datetime) -> str:
    if tenant.status != "active":
        return tenant.status.replace("_", " ")
    if expires is not None and expires < now and not tenant.settings.get("verified_at"):
        return "token expired"
    if last_webhook is None or now - last_webhook > dt.timedelta(days=1):
        return "no webhooks for a day"
    return "ok"


def portfolio(db: Session, tenants: list[Tenant], days: int = 30) -> list[PortalRow]:
    """One row per portal: four grouped queries plus the window's route decisions, whatever the portal count."""
    ids, now = [t.id for t in tenants], utcnow()
    since = now - dt.timedelta(days=days)
    webhooks = dict(db.execute(select(EventRecord.tenant_id, func.max(EventRecord.received_at)).where(
        EventRecord.tenant_id.in_(ids), EventRecord.source.not_in(("sweep", "backfill")))
        .group_by(EventRecord.tenant_id)).all())
    expires = dict(db.execute(select(Credential.tenant_id, Credential.expires_at).where(
        Credential.tenant_id.in_(ids))).all())
    failed = dict(db.execute(select(EventRecord.tenant_id, func.count()).where(
        EventRecord.tenant_id.in_(ids), EventRecord.status == "failed").group_by(EventRecord.tenant_id)).all())
    routes: dict[int, list[Decision]] = {i: [] for i in ids}
    for decision in db.scalars(select(Decision).where(Decision.tenant_id.in_(ids), Decision.kind == "route",
                                                      Decision.created_at >= since)):
        routes[decision.tenant_id].append(decision)
    return [_row(t, routes[t.id], expires.get(t.id), _aware(webhooks.get(t.id)), failed.get(t.id, 0), now)
            for t in tenants]


def _aware(value):
    return value.replace(tzinfo=dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo is None else value


def _row(tenant: Tenant, decisions: list[Decision], expires, last_webhook, failed: int, now) -> PortalRow:
    leads = len(decisions)
    review = sum(d.outcome == "review" for d in decisions)
    speeds = [_speed_ms(d) for d in decisions]
    speeds = [s for s in speeds if s is not None]
    return PortalRow(tenant=tenant, health=_health(tenant, _aware(expires), last_webhook, now),
                     token_expires=_aware(expires), last_webhook=last_webhook, leads=leads,
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
