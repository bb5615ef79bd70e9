"""`leadrelay demo`: Redis, the CRM sandbox, workers and the web app; installs, rules, leads, a report."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator

from integration.config import Settings
from integration.db import migrate
from integration.embedded_redis import stop_owned
from integration.logs import configure_logging
from leadrelay.demo_state import StaleState, prepare
from leadrelay.demo_story import DEMO_TIME_SCALE
from leadrelay.processes import local_http, port_in_use, share_redis, spawn, stop, wait_until

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


def _demo_environment(web_url: str, sandbox_tls_url: str, ca_file: str,
                      sandbox_browser_url: str | None = None) -> dict[str, str]:
    """Point every provider and adapter at the sandbox, with demo app credentials (unless set already); the admin's
    browser signs in on the sandbox's plain-HTTP loopback port, which no browser warns about."""
    env = {"LEADRELAY_SANDBOX_URL": sandbox_tls_url, "LEADRELAY_SANDBOX_CA": ca_file,
           **({"LEADRELAY_SANDBOX_BROWSER_URL": sandbox_browser_url} if sandbox_browser_url else {}),
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
                                       "contact.deletion", "deal.creation", "deal.propertyChange"])
        session.post(f"{sandbox_url}/_sandbox/apps", json=body, timeout=10).raise_for_status()


def _start(settings: Settings, port: int, sandbox_port: int, workers: int) -> tuple[list, dict]:
    logs = settings.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list = []
    web_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    print(f"Demo state (database, Redis, logs): {settings.var_dir}/", flush=True)
    print("1/5 Redis …", flush=True)
    print(f"    {share_redis(settings)}", flush=True)
    print("2/5 database migrations …", flush=True)
    migrate(settings.database_url)
    print("3/5 CRM sandbox (HubSpot, Salesforce, Pipedrive) …", flush=True)
    procs.append(spawn(["sandbox", "--port", str(sandbox_port), "--tls", "--profile", "realistic",
                        "--cert-dir", str(settings.var_dir / "sandbox-tls")], str(logs / "sandbox.log")))
    wait_until(lambda: _get_json(f"{sandbox_url}/_sandbox/health")["ok"], 30, "the sandbox", procs[-1],
               str(logs / "sandbox.log"))
    sandbox = _get_json(f"{sandbox_url}/_sandbox/health")
    os.environ.update(_demo_environment(web_url, sandbox["public_url"], sandbox["ca_file"], sandbox_url))
    # the leads' first responses go to the sandbox's SMTP server (GET /_sandbox/mail), never to a real mailbox
    os.environ["LEADRELAY_SMTP_URL"] = sandbox["smtp_url"]
    _register_apps(sandbox_url, web_url, dict(os.environ))
    # the children log at WARNING unless LEADRELAY_LOG_LEVEL asks for more (or less)
    # and run on the demo clock, so SLA tasks fall due and escalate within the run (set LEADRELAY_TIME_SCALE=1 for
    # real time)
    level = {"LEADRELAY_LOG_LEVEL": os.environ.get("LEADRELAY_LOG_LEVEL", "").strip() or "WARNING",
             "LEADRELAY_TIME_SCALE": os.environ.get("LEADRELAY_TIME_SCALE", "").strip() or str(DEMO_TIME_SCALE),
             # the leads' replies are read every 2 s, so a handoff shows within the run
             "LEADRELAY_INBOUND_INTERVAL": os.environ.get("LEADRELAY_INBOUND_INTERVAL", "").strip() or "2"}
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
    from leadrelay import demo_flow, demo_forms, demo_outreach, demo_story

    run = demo_story.StoryRun(urls["sandbox"])
    print("\nInstalling LeadRelay into one sandbox account per CRM (OAuth) …", flush=True)
    accounts = demo_flow.install_everywhere(urls["web"], urls["sandbox"], urls["ca"],
                                            demo_story.people_before_install(urls["sandbox"], urls["ca"], run))
    demo_flow.publish_demo_rules()
    demo_flow.wire_salesforce_outbound(urls["sandbox"], accounts)
    numbers = demo_outreach.setup_sms(urls["sandbox"], demo_flow.tenants_of(accounts))
    print(f"Sending {leads} leads over {seconds:.0f} s through the CRMs' webhooks, while reps call and a deal "
          f"is won …", flush=True)
    summary = demo_story.tell(accounts, run, leads, seconds, progress=_progress)
    print("\nA person fills in a web form on each account, then again written differently …", flush=True)
    summary["web_forms"] = demo_forms.send_forms(urls["web"], run.tenants)
    print("A referral fills in the form; leads answer their acknowledgments (a price question, an opt-out, an angry "
          "one, a STOP text) …", flush=True)
    summary["referral_forms"] = demo_outreach.referral_forms(urls["web"], run.tenants)
    summary["replies"] = demo_outreach.answer_back(run.crms, run.tenants, urls["web"], urls["sandbox"], numbers)
    summary.update(demo_outreach.report(run.tenants))
    return summary


def run_demo(port: int, sandbox_port: int, check: bool, leads: int = 60, seconds: float = 20,
             keep_running: bool = False, report_file: str | None = None, workers: int = 2) -> int:
    """Exit code: 0 when the story completed (also after Ctrl-C or SIGTERM once it had), 1 when it did not, 2 when
    the demo could not start (a port in use, a configured database or Redis holding another run's data), and
    128 + the signal when stopped before the story was told."""
    configure_logging("WARNING", "text")  # the demo's own warnings, on the terminal, redacted like every log
    busy = [p for p in (port, sandbox_port, sandbox_port + 1) if port_in_use(p)]
    if busy:
        print(f"demo cannot start: port {', '.join(map(str, busy))} already in use (an earlier demo still running? "
              "stop it with Ctrl-C in its terminal, or choose others with --port / --sandbox-port)", flush=True)
        return 2
    try:
        settings = _fresh_state()
    except StaleState as exc:
        print(f"demo cannot start: {exc}", flush=True)
        return 2
    procs: list = []
    story_ok = False
    with _signals_stop_the_demo():
        try:
            procs, urls = _start(settings, port, sandbox_port, workers)
            _print_health(urls["web"])
            summary = _story(urls, leads, seconds) if leads else {}
            problems = report_problems(summary)
            story_ok = not problems
            summary = {"demo": "ok" if story_ok else "incomplete", **({"problems": problems} if problems else {}),
                       "web": urls["web"], **summary}
            print(json.dumps(summary, indent=2), flush=True)
            if report_file:
                with open(report_file, "w", encoding="utf-8") as fh:
                    json.dump(summary, fh, indent=2)
            if problems:
                print(f"\nThe demo's story is incomplete: {'; '.join(problems)}. Logs: {urls['logs']}/", flush=True)
            if check or not keep_running:
                print("\nScripted run: stopping. (`make demo`, or `leadrelay demo --keep-running`, keeps the "
                      "console up until Ctrl-C.)", flush=True)
                return 0 if story_ok else 1
            _print_console(urls, settings)
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            print(f"a demo process stopped unexpectedly; see the logs in {urls['logs']}/", flush=True)
            return 1
        except DemoStopped as stopped:
            print(f"\n{stopped.name} received.", flush=True)
            return 0 if story_ok else 128 + stopped.signum
        except RuntimeError as exc:
            print(f"demo failed: {exc}", flush=True)
            return 1
        finally:
            print("stopping every process the demo started …", flush=True)
            stop(procs)
            stop_owned()
            print("stopped.", flush=True)


def _fresh_state() -> Settings:
    """This run's own folder (leadrelay.demo_state), made LEADRELAY_VAR_DIR for the demo and every child."""
    base = Settings.from_env()
    state = prepare(base.var_dir, os.environ.get("DATABASE_URL", "").strip() or None, base.redis_url)
    if state.moved_to is not None:
        print(f"An earlier demo run's state was moved to {state.moved_to}/: the sandbox starts empty on every "
              "run, so this run starts from an empty database and Redis too.", flush=True)
    os.environ["LEADRELAY_VAR_DIR"] = str(state.var_dir)
    return Settings.from_env()


def _print_health(web_url: str) -> None:
    # The first job pays for the worker's start-up (imports, connections); the next shows the steady round trip.
    first, warm = probe_round_trip(web_url), probe_round_trip(web_url)
    health = _get_json(f"{web_url}/healthz")
    print(f"\nLeadRelay web app listening on {web_url}", flush=True)
    print(f"  health:   {web_url}/healthz → {health['status']} (workers: {health['redis'].get('workers')})")
    print(f"  web → queue → worker → database round trip: {warm * 1000:.0f} ms "
          f"(the very first job, with the worker's start-up: {first * 1000:.0f} ms)", flush=True)


def _print_console(urls: dict, settings: Settings) -> None:
    print(f"\nThe demo stays up until you press Ctrl-C (or send SIGTERM): every process it started stops then.\n"
          f"  Console: {urls['web']}/console/   sign in with any of the three CRMs at {urls['web']}/login\n"
          f"           (the sandbox approves as its first admin user; no password, no certificate warning)\n"
          f"  Sandbox: {urls['sandbox']}/_sandbox/accounts\n"
          f"  Logs:    {urls['logs']}/   state: {settings.var_dir}/", flush=True)


def report_problems(summary: dict) -> list[str]:
    """What makes a report untrue or the story incomplete (an empty list: the demo may say "ok")."""
    problems = []
    story = summary.get("story")
    if story is not None and not story.get("complete"):
        missing = "; ".join(f"{beat} on {', '.join(crms)}" for beat, crms in (story.get("missing") or {}).items())
        problems.append(f"the story is incomplete ({missing or 'it did not finish in time'})")
    if summary.get("undecided"):
        problems.append(f"{summary['undecided']} of {summary.get('leads')} leads undecided")
    from leadrelay.demo_forms import problems as forms_problems

    problems += forms_problems(summary.get("web_forms") or {})
    from leadrelay.demo_outreach import problems as outreach_problems

    problems += outreach_problems(summary)
    for name, value in (summary.get("speed_to_owner_ms") or {}).items():
        if value is not None and not 0 <= value <= 60_000:
            problems.append(f"speed-to-owner {name} {value} ms is not a plausible duration")
    return problems


class DemoStopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum, self.name = signum, signal.Signals(signum).name


@contextlib.contextmanager
def _signals_stop_the_demo() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (docker stop, systemd, CI) end the demo through its `finally`, which stops every
    child's process group; a second signal while stopping is ignored rather than cutting the clean-up short."""
    def stopping(signum: int, _frame: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise DemoStopped(signum)

    before = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
