"""Install health: token state, last webhook, last sweep, pending events, queue lag, API budget left."""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from flask import Blueprint, current_app, g, render_template
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from adapters.registry import get_adapter_class
from integration.errors import UnknownPlatform
from integration.intake import PENDING
from integration.models import Credential, EventRecord, SweepCursor, Tenant, utcnow
from integration.queues import QUEUES, get_queue, queue_depths, redis_connection
from integration.ratelimit import SAFETY
from marketplace.access import tenant_view

health_console_bp = Blueprint("console_health", __name__, url_prefix="/console")
TOKEN_WARNING = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Budget:
    bucket: str
    left: float
    capacity: float | None

    @property
    def percent(self) -> float | None:
        return round(100 * self.left / self.capacity, 1) if self.capacity else None


def token_state(credential: Credential | None, now: dt.datetime) -> tuple[str, str]:
    """(state, text) for the stored access token: missing, expired, expiring, ok."""
    if credential is None:
        return "missing", "no token stored — install again"
    if credential.expires_at is None:
        return "ok", "does not expire"
    left = credential.expires_at - now
    when = credential.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if left <= dt.timedelta(0):
        return "expired", f"expired {when} (refreshed on the next CRM call if the refresh token is still good)"
    return ("expiring" if left < TOKEN_WARNING else "ok"), f"expires {when}"


def budgets(redis: Redis, tenant: Tenant, now: float) -> list[Budget]:
    """What is left in each of the tenant's token buckets (integration/ratelimit.py), refilled up to now."""
    try:
        limits = get_adapter_class(tenant.platform).RATE_LIMITS
    except UnknownPlatform:
        limits = {}
    found = []
    for key in sorted(redis.scan_iter(match=f"leadrelay:rate:{tenant.id}:*", count=100)):
        bucket = key.decode().rsplit(":", 1)[1]
        tokens, ts = redis.hmget(key, "tokens", "ts")
        if tokens is None:
            continue
        left, capacity = float(tokens), None
        if (shape := limits.get(bucket) or limits.get("default")) is not None:
            capacity = max(1.0, shape[0] * SAFETY)
            left = min(capacity, left + max(0.0, now - float(ts or now)) * capacity / shape[1])
        found.append(Budget(bucket=bucket, left=round(left, 1), capacity=capacity))
    return found


def queue_lag(redis: Redis, now: dt.datetime) -> list[dict]:
    """Per queue (shared by all tenants): its depths and how long the oldest waiting job has waited."""
    depths = queue_depths(redis)
    rows = []
    for name in QUEUES:
        queue = get_queue(name, redis)
        ids = queue.get_job_ids(0, 1)
        job = queue.fetch_job(ids[0]) if ids else None
        enqueued = job.enqueued_at if job is not None else None
        if enqueued is not None and enqueued.tzinfo is None:
            enqueued = enqueued.replace(tzinfo=dt.UTC)
        lag = (now - enqueued).total_seconds() if enqueued else 0.0
        rows.append({"name": name, **depths[name], "lag_seconds": max(0.0, round(lag, 1))})
    return rows


def backfill_state(tenant: Tenant) -> dict | None:
    """The install backfill's progress (integration/backfill.py keeps it in tenant.settings), or None.

    The CRM's total is not known ahead of time, so the bar is full when finished and shows the pages done so far
    (each job reads up to 1,000 records) while running."""
    state = (tenant.settings or {}).get("backfill")
    if not isinstance(state, dict):
        return None
    finished = _aware(state.get("finished_at"))
    return {"indexed": int(state.get("indexed") or 0), "unowned": int(state.get("unowned") or 0),
            "finished_at": finished, "updated_at": _aware(state.get("updated_at")),
            "state": "finished" if finished else "running", "percent": 100 if finished else None}


def _redis_figures(tenant: Tenant, now: dt.datetime) -> tuple[list[dict], list[Budget], str | None]:
    try:
        redis = redis_connection(current_app.config["LEADRELAY_SETTINGS"].redis_url or "")
        return queue_lag(redis, now), budgets(redis, tenant, time.time()), None
    except RedisError as exc:
        return [], [], f"Redis did not answer ({type(exc).__name__}): queues and budgets are unknown."


@health_console_bp.get("/tenants/<int:tenant_id>/health")
@tenant_view()
def health(tenant: Tenant):
    now = utcnow()
    credential = g.db.scalar(Credential.for_tenant(tenant.id).order_by(Credential.id.desc()).limit(1))
    last_webhook = g.db.scalar(select(func.max(EventRecord.received_at)).where(
        EventRecord.tenant_id == tenant.id, EventRecord.source != "sweep"))
    pending = g.db.scalar(select(func.count()).select_from(EventRecord).where(
        EventRecord.tenant_id == tenant.id, EventRecord.status.in_(PENDING)))
    failed = g.db.scalar(select(func.count()).select_from(EventRecord).where(
        EventRecord.tenant_id == tenant.id, EventRecord.status == "failed"))
    sweeps = g.db.scalars(SweepCursor.for_tenant(tenant.id).order_by(SweepCursor.object_type)).all()
    queues, buckets, redis_error = _redis_figures(tenant, now)
    state, token_text = token_state(credential, now)
    return render_template("console/health.html", tenant=tenant, role=g.role, token_state=state,
                           token_text=token_text, last_webhook=_aware(last_webhook), pending=pending, failed=failed,
                           sweeps=sweeps, last_sweep=max((s.swept_at for s in sweeps), default=None),
                           queues=queues, budgets=buckets, redis_error=redis_error, now=now,
                           backfill=backfill_state(tenant))


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """max() over a UTCDateTime column comes back without the type's conversion on SQLite."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value
