"""`leadrelay demo`: Redis, the CRM sandbox, a worker and the web app, started and checked."""
from __future__ import annotations

import json
import time

import requests

from integration.config import Settings
from integration.db import migrate
from leadrelay.embedded_redis import ensure_redis_url
from leadrelay.processes import spawn, stop, wait_until


def _get_json(url: str, **kw) -> dict:
    session = requests.Session()
    session.trust_env = False
    return session.get(url, timeout=5, **kw).json()


def _healthy(url: str) -> bool:
    session = requests.Session()
    session.trust_env = False
    return session.get(f"{url}/healthz", timeout=2).status_code == 200


def probe_round_trip(web_url: str, timeout: float = 20) -> float:
    """Ask the web app for a probe and wait until a worker completed it; returns seconds taken."""
    session = requests.Session()
    session.trust_env = False
    started = time.monotonic()
    token = session.post(f"{web_url}/api/v1/diagnostics/probes", timeout=5).json()["token"]
    wait_until(lambda: session.get(f"{web_url}/api/v1/diagnostics/probes/{token}", timeout=5).json()["done"],
               timeout, "the probe job")
    return time.monotonic() - started


def run_demo(port: int, sandbox_port: int, check: bool) -> int:
    settings = Settings.from_env()
    logs = settings.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print("1/5 Redis …", flush=True)
    redis_url = ensure_redis_url(settings.var_dir)
    print(f"    {redis_url}", flush=True)
    print("2/5 database migrations …", flush=True)
    migrate(settings.database_url)
    procs = []
    try:
        web_url = f"http://127.0.0.1:{port}"
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        print("3/5 CRM sandbox …", flush=True)
        procs.append(spawn(["sandbox", "--port", str(sandbox_port), "--tls", "--seed", "demo",
                            "--cert-dir", str(settings.var_dir / "sandbox-tls")], str(logs / "sandbox.log")))
        wait_until(lambda: _get_json(f"{sandbox_url}/_sandbox/health")["ok"], 30, "the sandbox", procs[-1],
                   str(logs / "sandbox.log"))
        print("4/5 worker …", flush=True)
        procs.append(spawn(["worker", "--processes", "1"], str(logs / "worker.log")))
        print("5/5 web app …", flush=True)
        procs.append(spawn(["web", "--port", str(port), "--workers", "2"], str(logs / "web.log")))
        wait_until(lambda: _healthy(web_url), 60, "the web app", procs[-1], str(logs / "web.log"))
        seconds = probe_round_trip(web_url)
        health = _get_json(f"{web_url}/healthz")
        print(f"\nLeadRelay web app listening on {web_url}", flush=True)
        print(f"  health:   {web_url}/healthz → {health['status']} (workers: {health['redis'].get('workers')})")
        print(f"  sandbox:  {sandbox_url} (HTTPS on port {sandbox_port + 1}; "
              f"accounts: {sandbox_url}/_sandbox/accounts)")
        print(f"  web → queue → worker → database round trip: {seconds * 1000:.0f} ms")
        print(f"  logs:     {logs}/", flush=True)
        if check:
            print(json.dumps({"demo": "ok", "web": web_url, "round_trip_ms": round(seconds * 1000)}), flush=True)
            return 0
        print("\nPress Ctrl-C to stop.", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p.args for p in procs if p.poll() is not None]
        print(f"a demo process stopped: {dead}; see {logs}/", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"demo failed: {exc}", flush=True)
        return 1
    finally:
        print("stopping …", flush=True)
        stop(procs)



