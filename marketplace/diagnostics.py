"""Diagnostics API: ask a worker to complete a probe, then read whether it did. For operators only.

Who may call it: with LEADRELAY_OPERATOR_TOKEN set, whoever sends `Authorization: Bearer <that token>` (from any
address, loopback included: behind a reverse proxy on the same host that sends no X-Forwarded-For, every caller
looks local). Without it, only a local caller (see `local_request`), so `make demo` and a shell on the host work
with no setup; anyone else gets 404, as for a route that does not exist: the API is off for the network until an
operator turns it on.
Creating probes is rate-limited per caller; probe rows expire (integration/admin/diagnostics.py).
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, request
from redis.exceptions import RedisError

from integration.admin.diagnostics import probe_status, request_probe
from integration.queues import redis_connection

log = logging.getLogger("leadrelay.diagnostics")
diagnostics_bp = Blueprint("diagnostics", __name__, url_prefix="/api/v1/diagnostics")

PROBES_PER_MINUTE = 10  # per caller; the demo and a health check need one at a time
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# a request carrying one of these came through a proxy; untrusted, it says nothing about where the caller is
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP")


def _settings():
    return current_app.config["LEADRELAY_SETTINGS"]


def local_request() -> bool:
    """A caller on this host: loopback address, loopback Host (no DNS rebinding), not a browser's cross-origin
    request, and an address we can believe: no forwarding headers at all when no proxy is trusted (a proxy we
    were not told about makes every caller look local), the client's own when one is (X-Forwarded-For)."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    if _settings().trusted_proxies:
        believable = "X-Forwarded-For" in request.headers  # the trusted proxy named the client (ProxyFix)
    else:
        believable = not any(h in request.headers for h in FORWARDING_HEADERS)
    host = urlsplit(f"//{request.host}").hostname
    return loopback and believable and host in LOCAL_HOSTS and "Origin" not in request.headers


def _operator_token_ok(expected: str) -> bool:
    auth = request.headers.get("Authorization", "")
    scheme, _, supplied = auth.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), expected.encode())


@diagnostics_bp.before_request
def operators_only() -> tuple[Response, int] | None:
    expected = _settings().operator_token
    if expected:
        if _operator_token_ok(expected):
            return None
        log.info("diagnostics.refused", extra={"reason": "operator token missing or wrong",
                                               "remote": request.remote_addr})
        resp = jsonify({"error": "unauthorized", "message": "send Authorization: Bearer <LEADRELAY_OPERATOR_TOKEN>"})
        resp.headers["WWW-Authenticate"] = 'Bearer realm="leadrelay-diagnostics"'
        return resp, 401
    if local_request():
        return None
    log.info("diagnostics.refused", extra={"reason": "not local and no LEADRELAY_OPERATOR_TOKEN set",
                                           "remote": request.remote_addr})
    abort(404)


def _over_limit() -> int | None:
    """Seconds to wait when this caller has created its share of probes in its current minute, else None."""
    key = f"leadrelay:ratelimit:diagnostics:{request.remote_addr}"
    try:
        conn = redis_connection(_settings())
        # the caller's minute starts with its first probe; INCR keeps the key's expiry
        _, count, ttl = conn.pipeline().set(key, 0, ex=60, nx=True).incr(key).ttl(key).execute()
    except RedisError:
        return None  # the probe itself needs Redis and will report it; the limit must not turn that into a 429
    return max(1, ttl) if count > PROBES_PER_MINUTE else None


@diagnostics_bp.post("/probes")
def create_probe():
    wait = _over_limit()
    if wait is not None:
        log.info("diagnostics.rate-limited", extra={"remote": request.remote_addr})
        resp = jsonify({"error": "too_many_requests",
                        "message": f"at most {PROBES_PER_MINUTE} probes a minute; try again in {wait} s"})
        resp.headers["Retry-After"] = str(wait)
        return resp, 429
    probe = request_probe()
    return jsonify({"token": probe.token, "status_url": f"/api/v1/diagnostics/probes/{probe.token}"}), 202


@diagnostics_bp.get("/probes/<token>")
def read_probe(token: str):
    status = probe_status(token)
    if status is None:
        abort(404, description=f"no probe {token!r}")
    return jsonify(status)
