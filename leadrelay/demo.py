"""`leadrelay demo`: Redis, the CRM sandbox, a worker and the web app, started and checked."""
from __future__ import annotations

import json
import os
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


DEMO_APPS = {p: {"client_id": f"leadrelay-demo-{p}", "client_secret": f"leadrelay-demo-{p}-secret"}
             for p in ("hubspot", "salesforce", "pipedrive")}


def _demo_environment(web_url: str, sandbox_tls_url: str, ca_file: str) -> dict[str, str]:
    """Point every provider and adapter at the sandbox, with demo app credentials (unless set already)."""
    env = {"LEADRELAY_SANDBOX_URL": sandbox_tls_url, "LEADRELAY_SANDBOX_CA": ca_file,
           "LEADRELAY_PUBLIC_URL": web_url}
    for platform, creds in DEMO_APPS.items():
        env.setdefault(f"{platform.upper()}_CLIENT_ID", os.environ.get(f"{platform.upper()}_CLIENT_ID")
                       or creds["client_id"])
        env.setdefault(f"{platform.upper()}_CLIENT_SECRET", os.environ.get(f"{platform.upper()}_CLIENT_SECRET")
                       or creds["client_secret"])
    return env


def _register_apps(sandbox_url: str, web_url: str, env: dict[str, str]) -> None:
    session = requests.Session()
    session.trust_env = False
    for platform in DEMO_APPS:
        body = {"platform": platform, "client_id": env[f"{platform.upper()}_CLIENT_ID"],
                "client_secret": env[f"{platform.upper()}_CLIENT_SECRET"],
                "redirect_uris": [f"{web_url}/oauth/{platform}/callback"],
                "target_url": f"{web_url}/webhooks/hubspot",
                "uninstall_url": f"{web_url}/oauth/pipedrive/uninstall"}
        session.post(f"{sandbox_url}/_sandbox/apps", json=body, timeout=10).raise_for_status()


def _consent_page_reached(web_url: str, platform: str, ca_file: str) -> bool:
    """/install/<platform> redirects to the sandbox's authorize page, which answers with a consent form."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    start = session.get(f"{web_url}/install/{platform}", allow_redirects=False, timeout=10)
    if start.status_code != 302:
        return False
    page = session.get(start.headers["Location"], allow_redirects=False, timeout=10)
    return page.status_code == 200 and "<form" in page.text


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
        procs.append(spawn(["sandbox", "--port", str(sandbox_port), "--tls", "--seed", "demo", "--consent-page",
                            "--cert-dir", str(settings.var_dir / "sandbox-tls")], str(logs / "sandbox.log")))
        wait_until(lambda: _get_json(f"{sandbox_url}/_sandbox/health")["ok"], 30, "the sandbox", procs[-1],
                   str(logs / "sandbox.log"))
        sandbox_health = _get_json(f"{sandbox_url}/_sandbox/health")
        demo_env = _demo_environment(web_url, sandbox_health["public_url"], sandbox_health["ca_file"])
        os.environ.update(demo_env)
        _register_apps(sandbox_url, web_url, demo_env)
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
        print("\nInstall LeadRelay into a demo CRM (the sandbox shows the consent page):")
        for platform in DEMO_APPS:
            print(f"  {platform:<11} {web_url}/install/{platform}")
        print(f"  console:    {web_url}/console/  (sign in: {web_url}/login)", flush=True)
        if check:
            consent = {p: _consent_page_reached(web_url, p, sandbox_health["ca_file"]) for p in DEMO_APPS}
            print(json.dumps({"demo": "ok" if all(consent.values()) else "install-broken", "web": web_url,
                              "round_trip_ms": round(seconds * 1000), "install_consent_pages": consent}), flush=True)
            return 0 if all(consent.values()) else 1
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



