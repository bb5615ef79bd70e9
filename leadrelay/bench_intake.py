"""Intake benchmark against `leadrelay web` (gunicorn): signed single-event HubSpot deliveries, then web-form
submissions to the intake endpoint (one key lookup, one insert, one enqueue each)."""
from __future__ import annotations

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
from leadrelay.processes import local_http, share_redis, spawn, stop, wait_until
from sandbox.hubspot.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers


def _body(i: int, portal: int) -> bytes:
    return json.dumps([{"eventId": 10_000_000 + i, "subscriptionId": 1, "portalId": portal, "appId": 1,
                        "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.creation",
                        "attemptNumber": 0, "objectId": 500_000 + i, "changeSource": "CRM_UI",
                        "sourceId": "userId:1", "changeFlag": "CREATED"}]).encode()


# wrk (a C load generator) replays pre-signed requests, so the measurement is the app's and not a Python client
# sharing the same two cores. Each wrk thread takes every n-th line (distinct event ids: no duplicate drops).
WRK_SCRIPT = r"""
local counter, threads, reqs, i = 0, {}, {}, 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args)
  local n, count = 0, tonumber(args[2])
  for line in io.lines(args[1]) do
    if n % count == id then
      local sig, stamp, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
      table.insert(reqs, wrk.format("POST", nil, {["X-HubSpot-Signature-v3"] = sig,
        ["X-HubSpot-Request-Timestamp"] = stamp, ["Content-Type"] = "application/json"}, body))
    end
    n = n + 1
  end
end
function request()
  i = i + 1
  return reqs[(i - 1) % #reqs + 1]
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n', summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# Submissions: one JSON body a line, each a different person (every one is stored and queued, none a repeat).
WRK_SUBMISSIONS = WRK_SCRIPT.replace(
    """      local sig, stamp, body = line:match("^([^\\t]+)\\t([^\\t]+)\\t(.*)$")
      table.insert(reqs, wrk.format("POST", nil, {["X-HubSpot-Signature-v3"] = sig,
        ["X-HubSpot-Request-Timestamp"] = stamp, ["Content-Type"] = "application/json"}, body))""",
    """      table.insert(reqs, wrk.format("POST", nil, {["Content-Type"] = "application/json"}, line))""")


def _submission(i: int) -> bytes:
    return json.dumps({"email": f"lead{i}@bench{i % 97}.example", "first_name": "Bench", "last_name": f"Lead {i}",
                       "company": f"Bench {i % 97}", "utm_source": "bench", "message": "Please call me back."}).encode()


def _submissions_with_wrk(target: str, var: Path, seconds: int, concurrency: int) -> dict:
    lines = [_submission(i).decode() for i in range(12_000 * seconds)]
    return _run_wrk(target, var, "submissions", WRK_SUBMISSIONS, lines, seconds, concurrency)


def _submissions_with_python(target: str, requests_total: int, concurrency: int) -> dict:
    """Web-form submissions from Python threads (the fallback when wrk is missing)."""
    return _threaded_load(lambda session, i: session.post(target, data=_submission(i), timeout=10,
                                                          headers={"Content-Type": "application/json"}),
                          requests_total, concurrency, ok=202)


def _with_wrk(target: str, secret: str, portal: int, var: Path, seconds: int, concurrency: int) -> dict:
    """`seconds` of load from wrk (2 threads) with `concurrency` connections; figures from its own histogram."""
    lines = []
    for i in range(12_000 * seconds):  # more than the app can take in that time: no request is sent twice
        body = _body(i, portal)
        headers = signed_headers(secret, target, body)
        lines.append(f"{headers[SIGNATURE_HEADER]}\t{headers[TIMESTAMP_HEADER]}\t{body.decode()}")
    return _run_wrk(target, var, "requests", WRK_SCRIPT, lines, seconds, concurrency)


def _run_wrk(target: str, var: Path, name: str, script: str, lines: list[str], seconds: int,
             concurrency: int) -> dict:
    """wrk (2 threads) replaying `lines` through `script` for `seconds`; figures from its own histogram."""
    import shutil
    import subprocess

    (var / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    (var / f"{name}.lua").write_text(script)
    out = subprocess.run([shutil.which("wrk") or "wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "5s",
                          "-s", str(var / f"{name}.lua"), target, "--", str(var / f"{name}.tsv"), "2"],
                         capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    return {"load_generator": "wrk", "requests": figures["requests"], "concurrency": concurrency,
            "errors": figures["non_2xx"] + figures["socket_errors"],
            "requests_per_second": round(figures["requests"] / (figures["duration_us"] / 1e6)),
            "p50_ms": round(figures["p50_us"] / 1000, 1), "p99_ms": round(figures["p99_us"] / 1000, 1)}


def _with_python(target: str, secret: str, portal: int, requests_total: int, concurrency: int) -> dict:
    """The fallback load generator: Python threads (they share the cores with the app: a floor, not a ceiling)."""
    def send(session, i: int):
        body = _body(i, portal)
        return session.post(target, data=body, headers=signed_headers(secret, target, body), timeout=10)
    return _threaded_load(send, requests_total, concurrency, ok=200)


def _threaded_load(send, requests_total: int, concurrency: int, ok: int) -> dict:
    """`requests_total` calls of `send(session, i)` from `concurrency` threads; an answer other than `ok` counts as
    an error."""
    counter = iter(range(requests_total))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def client() -> None:
        session = local_http()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            resp = send(session, i)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed * 1000)
                errors[0] += resp.status_code != ok

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"load_generator": "python threads", "requests": requests_total, "concurrency": concurrency,
            "errors": errors[0], "requests_per_second": round(requests_total / seconds),
            "p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 1)}


def bench_intake(requests_total: int = 3000, concurrency: int = 16, port: int = 8765, seconds: int = 10,
                 generator: str = "auto") -> dict:
    """Signed single-event deliveries per second and their latency, against `leadrelay web` (gunicorn).

    generator: "wrk" (when installed: `apt-get install wrk`), "python", or "auto" (wrk when on PATH).
    """
    import shutil

    var = Path(tempfile.mkdtemp(prefix="lr-bench-intake-"))
    secret, portal = "bench-secret", 777001
    # every request comes from 127.0.0.1 with one key: the per-address and per-key limits would measure themselves
    env = {"LEADRELAY_VAR_DIR": str(var), "HUBSPOT_CLIENT_SECRET": secret, "LEADRELAY_LOG_LEVEL": "WARNING",
           "LEADRELAY_INTAKE_IP_PER_MINUTE": "100000000", "LEADRELAY_INTAKE_KEY_PER_MINUTE": "100000000"}
    os.environ.update(env)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{var / 'bench.db'}")
    from integration.config import get_settings

    share_redis(get_settings())
    url = get_settings().database_url
    migrate(url)
    from marketplace.intake_keys import ensure_key, intake_url, reveal

    with session_scope(url) as s:
        tenant = Tenant(platform="hubspot", external_id=str(portal), name="bench")
        s.add(tenant)
        s.flush()
        intake_key = reveal(ensure_key(s, tenant.id)).key
    log = str(var / "web.log")
    web = spawn(["web", "--port", str(port), "--workers", "2", "--threads", "4"], log)  # `leadrelay web` defaults
    target = f"http://127.0.0.1:{port}/webhooks/hubspot"
    use_wrk = generator == "wrk" or (generator == "auto" and shutil.which("wrk"))
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok, 60, "the web app",
                   web, log)
        if use_wrk:
            figures = _with_wrk(target, secret, portal, var, seconds, concurrency)
        else:
            figures = _with_python(target, secret, portal, requests_total, concurrency)
        submissions_url = intake_url(f"http://127.0.0.1:{port}", intake_key)
        if use_wrk:
            submissions = _submissions_with_wrk(submissions_url, var, seconds, concurrency)
        else:
            submissions = _submissions_with_python(submissions_url, requests_total, concurrency)
    finally:
        stop([web])
    # the top level stays the webhook figures (what earlier runs printed); the intake endpoint's are beside them
    return {**figures, "database": get_settings().database_url.split(":", 1)[0], "submissions": submissions}
