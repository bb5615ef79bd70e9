"""/healthz: database, Redis, migrations and queue depths as JSON; 503 when something is down."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy.exc import SQLAlchemyError

from integration.db import current_revision, head_revision, ping
from integration.queues import queue_depths, redis_connection

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
        conn = redis_connection(settings.redis_url or "")
        conn.ping()
        workers = Worker.count(connection=conn)
        return {"ok": True, "workers": workers}, queue_depths(conn)
    except RedisError as exc:
        return {"ok": False, "error": type(exc).__name__, "hint": "check REDIS_URL and that Redis is up"}, {}


@health_bp.get("/healthz")
def healthz():
    settings = current_app.config["LEADRELAY_SETTINGS"]
    database = _database(settings)
    redis_state, queues = _redis(settings)
    ok = database["ok"] and redis_state["ok"]
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": redis_state, "queues": queues}
    return jsonify(body), 200 if ok else 503
