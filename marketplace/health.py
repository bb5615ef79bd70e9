"""/healthz: database, Redis, migrations and queue depths as JSON; 503 when something is down.

For operators (the diagnostics API's rule: LEADRELAY_OPERATOR_TOKEN as a bearer token, else a local caller) it also
carries every installed account's state from the one health model (integration/admin/health.py), as the console
shows it.
Accounts never change the status code: a load balancer must not take the app out because one CRM account needs a
re-connect.
"""
from __future__ import annotations

from collections import Counter

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from integration.admin.health import State
from integration.db import current_revision, head_revision, ping, session_scope
from integration.models import Tenant, TenantStatus
from integration.queues import queue_depths, redis_connection, redis_hint
from marketplace.diagnostics import _operator_token_ok, local_request
from marketplace.tenant_health import health_of

health_bp = Blueprint("health", __name__)


def _database(settings) -> dict:
    try:
        ping(settings.database_url)
        revision, head = current_revision(settings.database_url), head_revision()
    except SQLAlchemyError as exc:
        return {"ok": False, "error": type(exc).__name__, "hint": "check DATABASE_URL and that the server is up"}
    ok = revision == head
    return {"ok": ok, "backend": settings.database_url.split(":", 1)[0], "revision": revision, "head": head,
            **({} if ok else {"hint": "run `leadrelay web` or `leadrelay worker` once to apply migrations"})}


def _redis(settings) -> tuple[dict, dict]:
    try:
        conn = redis_connection(settings)
        conn.ping()
        workers = Worker.count(connection=conn)
        return {"ok": True, "workers": workers}, queue_depths(conn)
    except RedisError as exc:
        return {"ok": False, "error": type(exc).__name__, "hint": redis_hint(exc, settings)}, {}


@health_bp.get("/healthz")
def healthz():
    settings = current_app.config["LEADRELAY_SETTINGS"]
    database = _database(settings)
    redis_state, queues = _redis(settings)
    ok = database["ok"] and redis_state["ok"]
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": redis_state, "queues": queues}
    if database["ok"] and _operator(settings):
        body["tenants"] = _tenants(settings)
    return jsonify(body), 200 if ok else 503


def _operator(settings) -> bool:
    return _operator_token_ok(settings.operator_token) if settings.operator_token else local_request()


def _tenants(settings) -> dict:
    """Installed accounts per state, and each one that is not ok with its reason codes."""
    with session_scope(settings.database_url) as db:
        tenants = db.scalars(select(Tenant).where(Tenant.status != TenantStatus.UNINSTALLED)
                             .order_by(Tenant.id)).all()
        health = health_of(db, tenants)
        platforms = {t.id: t.platform for t in tenants}
    counts = Counter(h.state for h in health.values())
    return {"counts": {state.value: counts[state] for state in State if counts[state]},
            "attention": [{"id": tid, "platform": platforms[tid], "state": h.state.value,
                           "reasons": [r.code for r in h.reasons]}
                          for tid, h in health.items() if h.state != State.OK]}
