"""/metrics in Prometheus text format, for the operator's Prometheus (series: integration/admin/metrics.py).

Who may scrape it: with LEADRELAY_METRICS_TOKEN set, whoever sends `Authorization: Bearer <that token>` (401
otherwise, from any address: behind a proxy on the same host every caller looks local). Unset, only a local caller
as the diagnostics API decides it (`local_request`); anyone else gets 403: queue depths and per-tenant budgets are
not for the network.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.exceptions import RedisError

from integration.admin.metrics import LeadRelayCollector
from integration.queues import redis_connection
from marketplace.diagnostics import _operator_token_ok, local_request
from marketplace.tenant_health import budget_reserves, rate_limits

log = logging.getLogger("leadrelay.metrics")
metrics_bp = Blueprint("metrics", __name__)


def _refusal() -> Response | None:
    expected = current_app.config["LEADRELAY_SETTINGS"].metrics_token
    if expected:
        if _operator_token_ok(expected):
            return None
        log.info("metrics.refused", extra={"reason": "metrics token missing or wrong", "remote": request.remote_addr})
        return Response("send Authorization: Bearer <LEADRELAY_METRICS_TOKEN>\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="leadrelay-metrics"'})
    if local_request():
        return None
    log.info("metrics.refused", extra={"reason": "not local and no LEADRELAY_METRICS_TOKEN set",
                                       "remote": request.remote_addr})
    return Response("set LEADRELAY_METRICS_TOKEN to scrape from another host\n", 403, mimetype="text/plain")


@metrics_bp.get("/metrics")
def metrics() -> Response:
    refused = _refusal()
    if refused is not None:
        return refused
    settings = current_app.config["LEADRELAY_SETTINGS"]
    try:
        redis = redis_connection(settings)
    except (RedisError, ValueError):
        redis = None  # reported as leadrelay_up{part="redis"} 0
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LeadRelayCollector(settings.database_url, redis, rate_limits,
                                         dict(settings.budget_thresholds), budget_reserves))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
