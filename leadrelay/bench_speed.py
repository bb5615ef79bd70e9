"""Speed-to-owner through the real stack, per CRM (DESIGN.md budgets: p50 < 300 ms, p99 < 1 s; CRM calls per lead).

Embedded Redis, the CRM sandbox in this process (latency 0, its realistic profile: search that lags behind writes,
duplicate rules …), `leadrelay web` and `leadrelay worker` as child processes; per platform, one tenant installed
through OAuth, its install's follow-up jobs done and its webhooks wired as the demo wires them, and a published
round-robin rule set. Leads are created "as a UI user" through the sandbox, whose webhooks reach the web app; a
lead's speed-to-owner is the time from that create call to the owner write the pipeline records on its route
decision (`written_at`).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from integration.db import migrate, session_scope
from integration.models import Decision, RuleSetVersion, Tenant
from leadrelay.demo_flow import LEAD_OBJECT, PLACES, install_into, lead_properties, wire_salesforce_outbound
from leadrelay.processes import local_http, share_redis, spawn, stop, wait_until

PLATFORMS = tuple(LEAD_OBJECT)
USERS = [{"email": f"rep{i}@speed.bench", "name": f"Rep {i}", "timezone": "UTC"} for i in range(4)]
RULES = {"version": 1, "timezone": "UTC", "owners": [{"email": u["email"]} for u in USERS],
         "pools": {"team": {"strategy": "round_robin", "members": [{"owner": u["email"]} for u in USERS]}},
         # what a new lead costs in production: the account-owner lookup and an SLA task besides the owner write
         "routing": [{"name": "Existing account owner", "when": {"account_owner": True}, "assign": "account_owner"},
                     {"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
         "sla": {tier: {"first_touch": touch} for tier, touch in (("hot", "5m"), ("warm", "4h"), ("nurture", "2d"))},
         "fallback": {"review": True}}
# what the install's follow-up jobs leave in tenant.settings: grant verified, webhooks subscribed (Pipedrive's
# through the API), LeadRelay's fields ensured, the dedup index backfilled (until then the pipeline searches the CRM)
FOLLOW_UP = ("verified_at", "webhook_subscriptions", "leadrelay_fields", "index_complete")
BURST_THREADS = 8
MAX_PEOPLE = 8000  # _word() names this many distinct last names


class TooManyLeads(ValueError):
    """More leads asked for than there are distinct people to create."""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Tenancy:
    platform: str
    tenant_id: int
    account: str


class Stack:
    """Everything the measurement needs, started in order and stopped in reverse (also on failure)."""

    def __init__(self, workers: int, log=print, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms
        self.var = Path(tempfile.mkdtemp(prefix="lr-bench-speed-"))
        self.workers, self.log = workers, log
        self.procs: list = []
        self.sandbox = None
        self.web_url = f"http://127.0.0.1:{_free_port()}"

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _start(self) -> None:
        import logging

        from cryptography.fernet import Fernet

        from leadrelay.demo import _demo_environment, _register_apps
        from sandbox.config import SandboxConfig
        from sandbox.server import SandboxServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's request log
        self.sandbox = SandboxServer(port=0, tls_port=0, cert_dir=str(self.var / "sandbox-tls"),
                                     config=SandboxConfig.for_profile("realistic", seed=7,
                                                                       latency_ms=self.latency_ms)).start()
        os.environ.update({
            "LEADRELAY_VAR_DIR": str(self.var), "LEADRELAY_LOG_LEVEL": "WARNING",
            "LEADRELAY_SECRET_KEY": secrets.token_urlsafe(32),
            "LEADRELAY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            **_demo_environment(self.web_url, self.sandbox.tls_url, self.sandbox.sandbox.ca_file)})
        if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            os.environ["DATABASE_URL"] = f"sqlite:///{self.var / 'speed.db'}"
        from integration.config import get_settings

        self.log("  redis, database, sandbox …")
        share_redis(get_settings())
        self.database_url = get_settings().database_url
        migrate(self.database_url)
        _register_apps(self.sandbox.url, self.web_url, dict(os.environ))  # as the demo: HubSpot's webhooks app-wide
        self.log(f"  web app and {self.workers} worker process(es) …")
        self._spawn(["web", "--port", str(urlsplit(self.web_url).port), "--workers", "2"], "web.log")
        self._spawn(["worker", "--processes", str(self.workers)], "worker.log")
        wait_until(lambda: local_http().get(f"{self.web_url}/healthz", timeout=2).status_code == 200, 60,
                   "the web app", self.procs[0], str(self.var / "web.log"))

    def _spawn(self, args: list[str], log_name: str) -> None:
        self.procs.append(spawn(args, str(self.var / log_name)))

    def close(self) -> None:
        from integration.db import dispose_engines
        from integration.embedded_redis import stop_owned

        stop(self.procs)
        self.procs = []
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        dispose_engines()
        stop_owned()

    # the tenant -------------------------------------------------------------------------------------
    def install(self, platform: str) -> Tenancy:
        """A sandbox account with explicit users, installed through OAuth; rules published, webhooks wired."""
        account = install_into(self.web_url, self.sandbox.url, self.sandbox.sandbox.ca_file, {
            "platform": platform, "name": f"Speed bench {platform}", "users": USERS})["account_id"]
        with session_scope(self.database_url) as s:  # one tenant per platform here (Pipedrive's is the company id)
            tenant_id = s.scalar(select(Tenant.id).where(Tenant.platform == platform))
            s.add(RuleSetVersion(tenant_id=tenant_id, version=1, status="published", body=RULES))
        tenancy = Tenancy(platform, tenant_id, str(account))
        self._wait_follow_up(tenancy)
        return tenancy

    def _wait_follow_up(self, tenancy: Tenancy) -> None:
        """Until the install's jobs are done; then Salesforce's Outbound Message is pointed at the app."""
        def done() -> bool:
            with session_scope(self.database_url) as s:
                return set(FOLLOW_UP) <= set(s.get(Tenant, tenancy.tenant_id).settings or {})

        wait_until(done, 60, f"the {tenancy.platform} install's follow-up jobs", self.procs[1],
                   str(self.var / "worker.log"), interval=0.05)
        if tenancy.platform == "salesforce":
            wire_salesforce_outbound(self.sandbox.url, {"salesforce": {"account_id": tenancy.account}})

    # leads and their owners ---------------------------------------------------------------------------
    def create_lead(self, tenancy: Tenancy, n: int) -> tuple[str, float]:
        """Lead n, created as a UI user; returns its id and the wall-clock time just before the call."""
        first, last = _word(n % 400), _word((n * 37 + 11) % MAX_PEOPLE)  # distinct people, none a duplicate
        place = PLACES[n % len(PLACES)]
        props = lead_properties(tenancy.platform, first.title(), last.title() + "son",
                                f"{first}.{last}.{n}@{_word(n % 37)}.example", place[3].format(n=n % 10_000), place)
        started = time.time()
        resp = local_http().post(f"{self.sandbox.url}/_sandbox/accounts/{tenancy.account}/simulate", timeout=30,
                                 json={"action": "create", "object_type": LEAD_OBJECT[tenancy.platform][0],
                                       "properties": props})
        resp.raise_for_status()
        made = resp.json()
        return str(made.get("id") or made.get("Id") or made.get("data", {}).get("id")), started

    def submit(self, tenancy: Tenancy, n: int) -> tuple[str, float]:
        """Lead n as a web-form submission (stored as the intake endpoint stores one, then queued); returns the
        submission's id (as text) and the wall-clock time just before it was stored."""
        from integration.intake.submissions import enqueue_submission
        from integration.models.capture import IntakeSubmission

        first, last = _word(n % 400), _word((n * 37 + 11) % MAX_PEOPLE)
        place = PLACES[n % len(PLACES)]
        started = time.time()
        with session_scope(self.database_url) as s:
            sub = IntakeSubmission(tenant_id=tenancy.tenant_id, public_id=secrets.token_hex(16), fields={
                "first_name": first.title(), "last_name": last.title() + "son",
                "email": f"{first}.{last}.{n}@{_word(n % 37)}.example", "company": f"{last.title()} Inc",
                "message": "Please call me", "utm_source": "bench", "page_url": "https://bench.example/form",
                "country": place[0], "state": place[1], "postcode": place[2], "phone": place[3].format(n=n % 10_000)})
            s.add(sub)
            s.flush()
            sub_id = sub.id
        enqueue_submission(tenancy.tenant_id, sub_id)
        return str(sub_id), started

    def submissions_owned(self, tenant_id: int, ids: list[str]) -> dict[str, float | str]:
        """Finished submissions: id → when the new record's owner was written, or what became of it instead."""
        from integration.models.capture import IntakeSubmission

        with session_scope(self.database_url) as s:
            subs = s.execute(select(IntakeSubmission.id, IntakeSubmission.status, IntakeSubmission.record_id).where(
                IntakeSubmission.tenant_id == tenant_id, IntakeSubmission.id.in_([int(i) for i in ids]),
                IntakeSubmission.status != "accepted")).all()
            records = {rid: str(sid) for sid, _, rid in subs if rid}
            owned = self.owners_written(tenant_id, list(records)) if records else {}
        # "review": created and routed like "created", with a dedup review besides (a possible duplicate)
        routed = ("created", "review")
        return {str(sid): owned.get(rid, status) if status in routed else status for sid, status, rid in subs
                if status not in routed or rid in owned}

    def owners_written(self, tenant_id: int, ids: list[str]) -> dict[str, float | str]:
        """Finished route decisions for these leads: id → when the owner was written, or why it was not.

        A decision with an owner but no `written_at` is committed just before the CRM write: not finished yet.
        """
        with session_scope(self.database_url) as s:
            rows = s.execute(select(Decision.object_id, Decision.inputs, Decision.reason).where(
                Decision.tenant_id == tenant_id, Decision.kind == "route", Decision.object_id.in_(ids))).all()
        return {oid: (dt.datetime.fromisoformat(inputs["written_at"]).timestamp() if inputs.get("written_at")
                      else reason) for oid, inputs, reason in rows
                if inputs.get("written_at") or not inputs.get("owner_id")}

    def wait_owners(self, tenant_id: int, ids: list[str], timeout: float, interval: float, tick=None,
                    done=None) -> dict:
        done = done or self.owners_written
        found: dict[str, float | str] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(ids) and time.monotonic() < deadline:
            missing = [i for i in ids if i not in found]
            for start in range(0, len(missing), 500):
                found.update(done(tenant_id, missing[start:start + 500]))
            if len(found) < len(ids):
                if tick:
                    tick(f"{len(found)}/{len(ids)} decided")
                time.sleep(interval)
        return found

    def crm_calls(self, account: str, reset: bool = False) -> list[dict]:
        url = f"{self.sandbox.url}/_sandbox/accounts/{account}/calls"
        calls = local_http().get(url, timeout=30).json()["calls"]
        if reset:
            local_http().delete(url, timeout=10)
        return calls


SYLLABLES = ("ka", "lo", "mi", "ra", "te", "vo", "zu", "ne", "si", "da", "po", "ri", "gu", "fe", "ha", "jo", "be",
             "cy", "wi", "no")


def _word(n: int) -> str:
    """A pronounceable word per number (names with digits are rejected as junk, rightly)."""
    return SYLLABLES[n % 20] + SYLLABLES[n // 20 % 20] + (SYLLABLES[n // 400 % 20] if n >= 400 else "")


def _ticker(log, prefix: str, every: float = 5.0):
    """A progress line through `log` at most every `every` seconds (long phases show they are alive)."""
    due = time.monotonic() + every

    def tick(message: str) -> None:
        nonlocal due
        if time.monotonic() >= due:
            due = time.monotonic() + every
            log(f"{prefix}{message}")
    return tick


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


# record ids in call paths: numbers (HubSpot, Pipedrive) and Salesforce's 15/18-character ids (a digit after the
# 3-character key prefix, e.g. 00Q…)
_ID_SEGMENT = re.compile(r"/(?:[0-9]+|[0-9A-Za-z]{3}[0-9][0-9A-Za-z]{11}(?:[0-9A-Za-z]{3})?)(?=/|$)")


def _call_kinds(calls: list[dict]) -> dict[str, int]:
    """Calls by method and path (ids folded), with how many were refused with a 429."""
    kinds = Counter(f"{c['method']} {_ID_SEGMENT.sub('/{id}', c['path'].split('?')[0])}" for c in calls)
    kinds.update({"429 answers": sum(1 for c in calls if c["status"] == 429)})
    return dict(kinds.most_common())


def _figures(created: dict[str, float], written: dict[str, float | str], calls: list[dict], seconds: float) -> dict:
    latencies = [(written[i] - t) * 1000 for i, t in created.items() if isinstance(written.get(i), float)]
    unowned = Counter(written[i] for i in created if isinstance(written.get(i), str))
    out = {"leads": len(created), "owned": len(latencies), "not_owned": dict(unowned.most_common(3)),
           "undecided": sum(1 for i in created if i not in written), "crm_calls": len(calls),
           "crm_calls_per_lead": round(len(calls) / max(1, len(created)), 2), "crm_calls_by_kind": _call_kinds(calls),
           "wall_s": round(seconds, 2)}
    if latencies:
        out.update({"p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(_percentile(latencies, 99), 1),
                    "max_ms": round(max(latencies), 1)})
    return out


def one_at_a_time(stack: Stack, tenancy: Tenancy, leads: int, offset: int, log=print, pace: float = 0.0,
                  forms: bool = False) -> dict:
    """Each lead waits for its owner before the next is created (and for `pace` seconds after the previous one's
    creation: back to back, a portal's leads can outrun the CRM's own limits, e.g. HubSpot's 4 searches a second)."""
    stack.crm_calls(tenancy.account, reset=True)
    created: dict[str, float] = {}
    written: dict[str, float | str] = {}
    tick = _ticker(log, f"  {tenancy.platform}: ")
    started = time.monotonic()
    for n in range(leads):
        if created:
            time.sleep(max(0.0, pace - (time.time() - max(created.values()))))
        object_id, at = (stack.submit if forms else stack.create_lead)(tenancy, offset + n)
        created[object_id] = at
        written.update(stack.wait_owners(tenancy.tenant_id, [object_id], timeout=60, interval=0.002,
                                         done=stack.submissions_owned if forms else None))
        tick(f"{n + 1}/{leads} leads")
    return _figures(created, written, stack.crm_calls(tenancy.account), time.monotonic() - started)


def in_a_burst(stack: Stack, tenancy: Tenancy, leads: int, offset: int, log=print, forms: bool = False) -> dict:
    """`leads` creates (or web-form submissions) fired from several threads at once; then wait for every owner."""
    stack.crm_calls(tenancy.account, reset=True)
    started = time.monotonic()
    make = stack.submit if forms else stack.create_lead
    with ThreadPoolExecutor(BURST_THREADS) as pool:
        created = dict(pool.map(lambda n: make(tenancy, n), range(offset, offset + leads)))
    log(f"  {tenancy.platform}: {leads} leads created in {time.monotonic() - started:.1f} s; waiting for owners …")
    written = stack.wait_owners(tenancy.tenant_id, list(created), timeout=max(120.0, leads * 1.0), interval=0.05,
                                tick=_ticker(log, f"  {tenancy.platform}: "),
                                done=stack.submissions_owned if forms else None)
    return _figures(created, written, stack.crm_calls(tenancy.account), time.monotonic() - started)


def measure(stack: Stack, platform: str, leads: int, burst: int, log=print, pace: float = 0.0,
            leads_from: str = "all") -> dict:
    """Install into one CRM, prove its webhooks reach the app with a warm-up lead, then measure leads created in
    the CRM (webhooks), web-form submissions (forms), or both."""
    log(f"  {platform}: install (OAuth) and its follow-up jobs …")
    tenancy = stack.install(platform)
    log(f"  {platform}: warm-up lead (token, CRM users cache; its webhooks reach the app) …")
    if one_at_a_time(stack, tenancy, 1, offset=0, log=log)["undecided"]:
        raise RuntimeError(f"the {platform} warm-up lead got no route decision in 60 s: do its webhooks reach "
                           f"the app? See {stack.var}/web.log and worker.log")
    figures: dict = {}
    if leads_from in ("all", "webhooks"):
        log(f"  {platform}: {leads} leads one at a time …")
        single = {**one_at_a_time(stack, tenancy, leads, offset=1, log=log, pace=pace), "pace_s": pace}
        log(f"  {platform}: a burst of {burst} leads …")
        figures = {"one_at_a_time": single, "burst": in_a_burst(stack, tenancy, burst, offset=1 + leads, log=log)}
    if leads_from in ("all", "forms"):
        # web-form submissions: stored → record created (after the dedup look-up), owned and tasked; other people
        offset = 1 + leads + burst
        log(f"  {platform}: {leads} web-form submissions one at a time …")
        forms_single = one_at_a_time(stack, tenancy, leads, offset=offset, log=log, pace=pace, forms=True)
        log(f"  {platform}: a burst of {burst} web-form submissions …")
        forms_burst = in_a_burst(stack, tenancy, burst, offset=offset + leads, log=log, forms=True)
        figures["submissions"] = {"one_at_a_time": {**forms_single, "pace_s": pace}, "burst": forms_burst}
    return figures


def bench_speed(leads: int = 50, burst: int = 1000, workers: int = 1, platform: str = "all", log=print,
                pace: float = 0.0, leads_from: str = "all", latency_ms: int = 0) -> dict:
    """Speed-to-owner and CRM calls per lead, one at a time and in a burst, on one CRM or each in turn; every
    sandbox call `latency_ms` slower when asked (a real CRM's round trip)."""
    if 1 + 2 * (leads + burst) > MAX_PEOPLE:
        raise TooManyLeads(f"at most {(MAX_PEOPLE - 1) // 2} leads in all (--leads + --burst, each also as a web-form "
                           "submission): each must be a new person")
    platforms = PLATFORMS if platform == "all" else (platform,)
    with Stack(workers, log, latency_ms) as stack:
        figures = {name: measure(stack, name, leads, burst, log, pace, leads_from) for name in platforms}
        database = stack.database_url.split(":", 1)[0]
    out = {"sandbox_profile": "realistic", "sandbox_latency_ms": latency_ms, "worker_processes": workers,
           "web_workers": 2, "database": database}
    return {**out, **figures} if len(platforms) > 1 else {**out, "platform": platform, **figures[platform]}
