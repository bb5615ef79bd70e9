"""`leadrelay demo`: Redis, the CRM sandbox, workers and the web app; installs, rules, leads, a report."""
from __future__ import annotations

import json
import os
import sys
import time

from integration.config import Settings
from integration.db import migrate
from integration.logs import configure_logging
from leadrelay.embedded_redis import ensure_redis_url
from leadrelay.processes import local_http, spawn, stop, wait_until

DEMO_APPS = {p: {"client_id": f"leadrelay-demo-{p}", "client_secret": f"leadrelay-demo-{p}-secret"}
             for p in ("hubspot", "salesforce", "pipedrive")}
DEMO_HUBSPOT_APP_ID = "4242"


def _get_json(url: str, **kw) -> dict:
    return local_http().get(url, timeout=5, **kw).json()


def _healthy(url: str) -> bool:
    return local_http().get(f"{url}/healthz", timeout=2).status_code == 200


def probe_round_trip(web_url: str, timeout: float = 20) -> float:
    """Ask the web app for a probe and wait until a worker completed it; returns seconds taken."""
    session = local_http()
    operator = os.environ.get("LEADRELAY_OPERATOR_TOKEN", "").strip()
    if operator:  # otherwise the API answers local callers like us without one
        session.headers["Authorization"] = f"Bearer {operator}"
    started = time.monotonic()
    token = session.post(f"{web_url}/api/v1/diagnostics/probes", timeout=5).json()["token"]
    wait_until(lambda: session.get(f"{web_url}/api/v1/diagnostics/probes/{token}", timeout=5).json()["done"],
               timeout, "the probe job", interval=0.02)
    return time.monotonic() - started


def _demo_environment(web_url: str, sandbox_tls_url: str, ca_file: str) -> dict[str, str]:
    """Point every provider and adapter at the sandbox, with demo app credentials (unless set already)."""
    env = {"LEADRELAY_SANDBOX_URL": sandbox_tls_url, "LEADRELAY_SANDBOX_CA": ca_file,
           "LEADRELAY_PUBLIC_URL": web_url, "HUBSPOT_APP_ID": DEMO_HUBSPOT_APP_ID}
    for platform, creds in DEMO_APPS.items():
        for suffix, value in (("CLIENT_ID", creds["client_id"]), ("CLIENT_SECRET", creds["client_secret"])):
            env[f"{platform.upper()}_{suffix}"] = os.environ.get(f"{platform.upper()}_{suffix}") or value
    return env


def _register_apps(sandbox_url: str, web_url: str, env: dict[str, str]) -> None:
    session = local_http()
    for platform in DEMO_APPS:
        body = {"platform": platform, "client_id": env[f"{platform.upper()}_CLIENT_ID"],
                "client_secret": env[f"{platform.upper()}_CLIENT_SECRET"],
                "redirect_uris": [f"{web_url}/oauth/{platform}/callback"],
                "uninstall_url": f"{web_url}/oauth/pipedrive/callback"}
        if platform == "hubspot":  # app-level webhooks, as a HubSpot project declares them
            body.update(app_id=int(DEMO_HUBSPOT_APP_ID), target_url=f"{web_url}/webhooks/hubspot",
                        subscriptions=["contact.creation", "contact.propertyChange", "contact.merge",
                                       "contact.deletion"])
        session.post(f"{sandbox_url}/_sandbox/apps", json=body, timeout=10).raise_for_status()


def _start(settings: Settings, port: int, sandbox_port: int, workers: int) -> tuple[list, dict]:
    logs = settings.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list = []
    web_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    print("1/5 Redis …", flush=True)
    print(f"    {ensure_redis_url(settings.var_dir)}", flush=True)
    print("2/5 database migrations …", flush=True)
    migrate(settings.database_url)
    print("3/5 CRM sandbox (HubSpot, Salesforce, Pipedrive) …", flush=True)
    procs.append(spawn(["sandbox", "--port", str(sandbox_port), "--tls", "--profile", "realistic",
                        "--cert-dir", str(settings.var_dir / "sandbox-tls")], str(logs / "sandbox.log")))
    wait_until(lambda: _get_json(f"{sandbox_url}/_sandbox/health")["ok"], 30, "the sandbox", procs[-1],
               str(logs / "sandbox.log"))
    sandbox = _get_json(f"{sandbox_url}/_sandbox/health")
    os.environ.update(_demo_environment(web_url, sandbox["public_url"], sandbox["ca_file"]))
    _register_apps(sandbox_url, web_url, dict(os.environ))
    # the children log at WARNING unless LEADRELAY_LOG_LEVEL asks for more (or less)
    level = {"LEADRELAY_LOG_LEVEL": os.environ.get("LEADRELAY_LOG_LEVEL", "").strip() or "WARNING"}
    print(f"4/5 {workers} worker processes …", flush=True)
    procs.append(spawn(["worker", "--processes", str(workers)], str(logs / "worker.log"), env=level))
    print("5/5 web app …", flush=True)
    procs.append(spawn(["web", "--port", str(port), "--workers", "2"], str(logs / "web.log"), env=level))
    wait_until(lambda: _healthy(web_url), 60, "the web app", procs[-1], str(logs / "web.log"))
    return procs, {"web": web_url, "sandbox": sandbox_url, "ca": sandbox["ca_file"], "logs": str(logs)}


def _progress(done: int, total: int) -> None:
    if sys.stdout.isatty():
        print(f"\r    leads decided: {done}/{total}", end="", flush=True)


def _story(urls: dict, leads: int, seconds: float) -> dict:
    from leadrelay import demo_flow, demo_story

    run = demo_story.StoryRun(urls["sandbox"])
    print("\nInstalling LeadRelay into one sandbox account per CRM (OAuth) …", flush=True)
    accounts = demo_flow.install_everywhere(urls["web"], urls["sandbox"], urls["ca"],
                                            demo_story.people_before_install(urls["sandbox"], urls["ca"], run))
    demo_flow.publish_demo_rules()
    demo_flow.wire_salesforce_outbound(urls["sandbox"], accounts)
    print(f"Sending {leads} leads over {seconds:.0f} s through the CRMs' webhooks, while reps call and a deal "
          f"is won …", flush=True)
    summary = demo_story.tell(accounts, run, leads, seconds, progress=_progress)
    print("", flush=True)
    return summary


def run_demo(port: int, sandbox_port: int, check: bool, leads: int = 60, seconds: float = 20,
             keep_running: bool = False, report_file: str | None = None, workers: int = 2) -> int:
    settings = Settings.from_env()
    configure_logging("WARNING", "text")  # the demo's own warnings, on the terminal, redacted like every log
    procs: list = []
    try:
        procs, urls = _start(settings, port, sandbox_port, workers)
        seconds_rt = probe_round_trip(urls["web"])
        health = _get_json(f"{urls['web']}/healthz")
        print(f"\nLeadRelay web app listening on {urls['web']}", flush=True)
        print(f"  health:   {urls['web']}/healthz → {health['status']} (workers: {health['redis'].get('workers')})")
        print(f"  web → queue → worker → database round trip: {seconds_rt * 1000:.0f} ms", flush=True)
        summary = _story(urls, leads, seconds) if leads else {}
        summary = {"demo": "ok", "web": urls["web"], "round_trip_ms": round(seconds_rt * 1000), **summary}
        print(json.dumps(summary, indent=2), flush=True)
        if report_file:
            with open(report_file, "w", encoding="utf-8") as fh:
                json.dump(summary, fh, indent=2)
        print(f"\nConsole: {urls['web']}/console/  (sign in with any of the three CRMs: {urls['web']}/login)")
        print(f"Sandbox: {urls['sandbox']}/_sandbox/accounts   logs: {urls['logs']}/", flush=True)
        if check or not keep_running:
            return 0 if summary.get("undecided", 0) == 0 else 1
        print("\nPress Ctrl-C to stop.", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a demo process stopped; see the logs", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"demo failed: {exc}", flush=True)
        return 1
    finally:
        print("stopping …", flush=True)
        stop(procs)
