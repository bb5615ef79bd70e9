"""Webhook intake benchmark: signed single-event HubSpot deliveries against `leadrelay web` (gunicorn)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from integration.db import migrate, session_scope
from integration.models import Tenant
from leadrelay.processes import local_http, spawn, stop, wait_until


def _signed(secret: str, url: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    digest = hmac.new(secret.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256).digest()
    return {"X-HubSpot-Signature-v3": base64.b64encode(digest).decode(), "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json"}


def _body(i: int, portal: int) -> bytes:
    return json.dumps([{"eventId": 10_000_000 + i, "subscriptionId": 1, "portalId": portal, "appId": 1,
                        "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.creation",
                        "attemptNumber": 0, "objectId": 500_000 + i, "changeSource": "CRM_UI",
                        "sourceId": "userId:1", "changeFlag": "CREATED"}]).encode()


def bench_intake(requests_total: int = 3000, concurrency: int = 16, port: int = 8765) -> dict:
    var = Path(tempfile.mkdtemp(prefix="lr-bench-intake-"))
    secret, portal = "bench-secret", 777001
    env = {"LEADRELAY_VAR_DIR": str(var), "HUBSPOT_CLIENT_SECRET": secret, "LEADRELAY_LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{var / 'bench.db'}")
    from integration.config import get_settings
    from leadrelay.embedded_redis import ensure_redis_url

    ensure_redis_url(var)
    url = get_settings().database_url
    migrate(url)
    with session_scope(url) as s:
        s.add(Tenant(platform="hubspot", external_id=str(portal), name="bench"))
    log = str(var / "web.log")
    web = spawn(["web", "--port", str(port), "--workers", "2", "--threads", "8"], log)
    target = f"http://127.0.0.1:{port}/webhooks/hubspot"
    latencies: list[float] = []
    errors = [0]
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok, 60, "the web app",
                   web, log)
        counter = iter(range(requests_total))
        lock = threading.Lock()

        def client() -> None:
            session = local_http()
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = _body(i, portal)
                started = time.perf_counter()
                resp = session.post(target, data=body, headers=_signed(secret, target, body), timeout=10)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed * 1000)
                    errors[0] += resp.status_code != 200

        threads = [threading.Thread(target=client) for _ in range(concurrency)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
    finally:
        stop([web])
    ordered = sorted(latencies)
    return {"requests": requests_total, "concurrency": concurrency, "errors": errors[0],
            "requests_per_second": round(requests_total / seconds), "p50_ms": round(statistics.median(ordered), 1),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
            "database": get_settings().database_url.split(":", 1)[0]}
