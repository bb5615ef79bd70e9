"""Install health: the account's state and why (integration/admin/health.py), then the facts behind it."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, render_template
from redis.exceptions import RedisError

from integration.admin.health import QUEUE_LATE, Token, aware, per, queue_lag, span, stamp
from integration.intake.sweep import interval_seconds
from integration.models import Tenant, utcnow
from integration.queues import QUEUES, queue_depths, redis_connection
from marketplace import tenant_health
from marketplace.access import tenant_view

health_console_bp = Blueprint("console_health", __name__, url_prefix="/console")
QUEUE_LABELS = {"intake": "Intake: new and changed leads", "sla": "SLA checks and escalations",
                "sweep": "Sweep: changes no webhook announced",
                "maintenance": "Maintenance: installs, deletions, rebuilds"}
TOKEN_BADGES = {"renews itself": "ok", "does not expire": "ok", "ok": "ok", "expiring": "warn"}


def token_text(token: Token, now: dt.datetime) -> tuple[str, str]:
    """(label, sentence) for the stored access token."""
    expires = token.expires_at
    if token.state == "renews":
        if expires is None:
            return "renews itself", "LeadRelay renews the access token itself (it holds a refresh token)."
        if expires <= now:
            return "renews itself", (f"The last access token ran out at {stamp(expires)}; LeadRelay fetches a new "
                                     "one with its refresh token on the next CRM call.")
        return "renews itself", (f"The current access token is good until {stamp(expires)}; LeadRelay renews it "
                                 "with its refresh token before then.")
    return {
        "no-expiry": ("does not expire", "The access token does not expire."),
        "ok": ("ok", f"Expires at {stamp(expires)} and cannot renew itself (no refresh token)."),
        "expiring": ("expiring", f"Expires at {stamp(expires)} and cannot renew itself: re-connect before then."),
        "expired": ("expired", f"Expired at {stamp(expires)}: re-connect."),
        "missing": ("missing", "No token stored: re-connect."),
    }[token.state]


def ago(when: dt.datetime, now: dt.datetime) -> str:
    return "just now" if now - when < dt.timedelta(seconds=5) else f"{span(now - when)} ago"


def queue_rows(now: dt.datetime) -> tuple[list[dict], str | None]:
    """Per queue (shared by all tenants): its depths and how long its oldest waiting job has waited."""
    try:
        redis = redis_connection(current_app.config["LEADRELAY_SETTINGS"])
        depths, lag = queue_depths(redis), queue_lag(redis, now, QUEUES)
    except RedisError as exc:
        return [], type(exc).__name__
    return [{"name": name, "label": QUEUE_LABELS.get(name, name.capitalize()), **depths[name], "lag": lag.get(name),
             "late": (lag.get(name) or 0) > QUEUE_LATE.total_seconds()} for name in QUEUES], None


def backfill_state(tenant: Tenant) -> dict | None:
    """The install backfill's progress (integration/intake/backfill.py keeps it in tenant.settings), or None.

    The CRM's total is not known ahead of time, so the bar is full when finished and shows the pages done so far
    (each job reads up to 1,000 records) while running."""
    state = (tenant.settings or {}).get("backfill")
    if not isinstance(state, dict):
        return None
    finished = aware(state.get("finished_at"))
    return {"indexed": int(state.get("indexed") or 0), "unowned": int(state.get("unowned") or 0),
            "finished_at": finished, "updated_at": aware(state.get("updated_at")),
            "state": "finished" if finished else "running", "percent": 100 if finished else None}


@health_console_bp.get("/tenants/<int:tenant_id>/health")
@tenant_view()
def health(tenant: Tenant):
    now = utcnow()
    report = tenant_health.health_of(g.db, [tenant])[tenant.id]
    queues, queue_error = queue_rows(now)
    token_label, token_sentence = token_text(report.facts.token, now)
    return render_template("console/health.html", tenant=tenant, role=g.role, facts=report.facts,
                           v=tenant_health.view(report, tenant.platform), token_label=token_label,
                           token_sentence=token_sentence, token_badge=TOKEN_BADGES.get(token_label, "bad"),
                           queues=queues, queue_error=queue_error, now=now, span=span, per=per,
                           span_s=lambda seconds: span(dt.timedelta(seconds=seconds or 0)), ago=ago,
                           bucket_label=tenant_health.bucket_label, work_class_label=tenant_health.work_class_label,
                           headroom=report.facts.headroom(), waiting=report.facts.waiting,
                           sweep_every=span(dt.timedelta(seconds=interval_seconds(tenant.id))),
                           backfill=backfill_state(tenant))
