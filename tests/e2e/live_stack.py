"""The whole stack, live: the app on a loopback port, one tenant per CRM installed through OAuth, and the
sandbox posting real webhooks to it, each platform wired its own way.

- HubSpot: the app's webhook target and subscriptions are app-level (re-registered here, app id 4242).
- Pipedrive: the install's `subscribe_tenant_webhooks` job subscribes through the adapter.
- Salesforce: the org's Outbound Message is pointed at the tenant's URL (key and secret in the path).

Use the `live_stack` fixture (import `live_stack_fixture` into a test module). Everything session-wide it changes (the
HubSpot app registration, the sandbox config) is restored afterwards.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, RuleSetVersion, Tenant, WebhookKey
from integration.pipeline.new_leads import SKEW
from tests.conftest import APPS, PUBLIC_URL
from tests.crm_helpers import browser, install, new_account
from tests.workers import BurstWorker

PLATFORMS = ("hubspot", "salesforce", "pipedrive")
HUBSPOT_APP_ID = 4242
HUBSPOT_SUBSCRIPTIONS = ["contact.creation", "contact.propertyChange"]
OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": "America/New_York"},
          {"email": "ben.owner@leadrelay.test", "name": "Ben Owner", "timezone": "Europe/Berlin"}]
RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": o["email"]} for o in OWNERS],
    "pools": {"team": {"strategy": "round_robin", "members": [{"owner": o["email"]} for o in OWNERS]}},
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "fallback": {"review": True},
}
# the lead object as the sandbox's simulate call names it, and as LeadRelay's adapters name it
SANDBOX_OBJECT = {"hubspot": "contacts", "salesforce": "Lead", "pipedrive": "persons"}
LEAD_OBJECT = {"hubspot": "contact", "salesforce": "lead", "pipedrive": "contact"}
ALL_QUEUES = ["intake", "sla", "sweep", "maintenance"]


SYLLABLES = ("ba", "co", "di", "fe", "gu", "ha", "ki", "lo", "mu", "ne",
             "po", "ri", "sa", "tu", "vo", "we", "xi", "yo", "za", "ju")
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances")


def person_name(n: int) -> tuple[str, str]:
    """A distinct, real-looking name for each n < 8000 (normalization refuses names with digits)."""
    last = "".join(SYLLABLES[n // 20 ** i % 20] for i in (2, 1, 0)).capitalize() + "son"
    return FIRST_NAMES[n % len(FIRST_NAMES)], last


def lead_properties(platform: str, n: int, tag: str = "rel") -> dict[str, Any]:
    """A distinct person (no duplicate of any other) in the platform's own field names."""
    (first, last), email = person_name(n), f"lead.{tag}.{n}@company{n}-{tag}.example"
    if platform == "hubspot":
        return {"firstname": first, "lastname": last, "email": email, "company": f"{last} {tag} Inc"}
    if platform == "salesforce":
        return {"FirstName": first, "LastName": last, "Email": email, "Company": f"{last} {tag} Inc"}
    return {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}]}


@dataclass
class Tenancy:
    platform: str
    tenant_id: int
    account_id: str


@dataclass
class LiveStack:
    url: str  # where the app listens (LEADRELAY_PUBLIC_URL)
    server: Any  # the crm_sandbox SandboxServer
    env: dict[str, str]
    tenants: dict[str, Tenancy] = field(default_factory=dict)

    # the sandbox's control API ---------------------------------------------------------------------
    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = browser(self.server).request(method, f"{self.server.url}/_sandbox{path}", timeout=30, **kwargs)
        resp.raise_for_status()
        return resp.json()

    def configure(self, **settings: Any) -> dict:
        return self.control("POST", "/config", json=settings)

    def simulate(self, platform: str, payload: dict) -> dict:
        return self.control("POST", f"/accounts/{self.tenants[platform].account_id}/simulate", json=payload)

    def create_lead(self, platform: str, n: int, tag: str = "rel") -> str:
        """A new lead created as a user in the CRM UI (webhooks fire); returns its id."""
        made = self.simulate(platform, {"action": "create", "object_type": SANDBOX_OBJECT[platform],
                                        "properties": lead_properties(platform, n, tag)})
        return str(made.get("id") or made.get("Id") or made.get("data", {}).get("id"))

    def calls(self, platform: str) -> list[dict]:
        return self.control("GET", f"/accounts/{self.tenants[platform].account_id}/calls")["calls"]

    def records(self, platform: str) -> list[dict]:
        return self.control("GET", f"/accounts/{self.tenants[platform].account_id}/{SANDBOX_OBJECT[platform]}")[
            "results"]

    def wait_webhooks_idle(self, timeout: float = 30) -> None:
        """Until the sandbox has nothing left to deliver (no queued post or retry)."""
        if not self.server.sandbox.outbox.wait_idle(timeout):
            raise AssertionError(f"the sandbox still has {self.control('GET', '/webhooks')['pending']} webhooks")

    # LeadRelay's side --------------------------------------------------------------------------------
    def redis(self) -> Redis:
        return Redis.from_url(self.env["REDIS_URL"])

    def work(self, queues: list[str] | None = None) -> None:
        """Run every queued job (burst, in this process; scheduled jobs are not due and stay)."""
        BurstWorker(queues or ALL_QUEUES, connection=self.redis()).work(burst=True)

    def settle(self, queues: list[str] | None = None, horizon: float = 30.0, timeout: float = 90.0) -> None:
        """Run queued jobs, and the scheduled ones (re-plans after a 429, retries) due within `horizon` seconds,
        until none is left. Farther ones (the next periodic sweep) stay scheduled."""
        queues = queues or ALL_QUEUES
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.work(queues)
            due = self.scheduled(queues, horizon)
            if not due:
                return
            now = time.time()
            if min(due) > now:
                time.sleep(min(min(due) - now, 1.0))
                continue
            for queue in (Queue(name, connection=self.redis()) for name in queues):
                registry = queue.scheduled_job_registry
                for job_id in registry.get_jobs_to_schedule(int(now)):
                    registry.remove(job_id)
                    queue.enqueue_job(Job.fetch(job_id, connection=self.redis()))
        raise AssertionError(f"jobs still scheduled after {timeout} s: {self.scheduled(queues, horizon)}")

    def scheduled(self, queues: list[str], horizon: float) -> list[float]:
        """Due times of the scheduled jobs due within `horizon` seconds."""
        conn, limit = self.redis(), time.time() + horizon
        return [score for name in queues for _, score in conn.zrangebyscore(
            Queue(name, connection=conn).scheduled_job_registry.key, 0, limit, withscores=True)]

    def busy(self, horizon: float = 30.0) -> bool:
        """Jobs queued, running, or scheduled within `horizon` seconds (worker processes are at it)."""
        queues = [Queue(name, connection=self.redis()) for name in ALL_QUEUES]
        return any(q.count or q.started_job_registry.count for q in queues) or bool(
            self.scheduled(ALL_QUEUES, horizon))

    def wait_idle(self, timeout: float = 60.0, horizon: float = 30.0) -> None:
        """Until worker processes have nothing left to do now or soon (checked a few times in a row)."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 3:
            if time.monotonic() > deadline:
                raise AssertionError("the workers are still busy")
            quiet = 0 if self.busy(horizon) else quiet + 1
            time.sleep(0.2)

    def failed_jobs(self) -> dict[str, list[str]]:
        found = {name: Queue(name, connection=self.redis()).failed_job_registry.get_job_ids()
                 for name in ALL_QUEUES}
        return {name: ids for name, ids in found.items() if ids}

    def sweep(self) -> int:
        """One reconciliation pass per tenant, then the drains it enqueued."""
        from integration.intake.sweep import sweep_tenant

        added = sum(sweep_tenant(t.tenant_id) or 0 for t in self.tenants.values())
        self.settle(["intake", "sweep", "maintenance"])
        return added

    def route_decisions(self, platform: str) -> list[Decision]:
        with session_scope(self.env["DATABASE_URL"]) as s:
            rows = s.scalars(select(Decision).where(Decision.tenant_id == self.tenants[platform].tenant_id,
                                                    Decision.kind == "route")).all()
            s.expunge_all()
            return list(rows)

    def owners_in_crm(self, platform: str) -> dict[str, str | None]:
        """Lead id → owner id as the CRM stores it (read through the control API: no budget spent)."""
        return {str(r.get("id") or r.get("Id")): _owner(platform, r) for r in self.records(platform)}


def _owner(platform: str, row: dict) -> str | None:
    value = {"hubspot": lambda: row["properties"].get("hubspot_owner_id"), "salesforce": lambda: row.get("OwnerId"),
             "pipedrive": lambda: row.get("owner_id")}[platform]()
    return str(value) if value not in (None, "") else None


def _register_hubspot(stack: LiveStack, target_url: str) -> Any:
    """Give the HubSpot app its webhook target; returns the registration it replaced (to restore)."""
    from sandbox.hubspot.hubstate import hub

    before = hub(stack.server.sandbox).apps.get(APPS["hubspot"]["client_id"])
    stack.control("POST", "/apps", json={
        "platform": "hubspot", **APPS["hubspot"], "redirect_uris": [f"{PUBLIC_URL}/oauth/hubspot/callback"],
        "target_url": target_url, "subscriptions": HUBSPOT_SUBSCRIPTIONS, "app_id": HUBSPOT_APP_ID})
    return before


def _install_tenant(stack: LiveStack, app, platform: str) -> Tenancy:
    account = new_account(stack.server, platform, name=f"Live {platform}", users=OWNERS)
    assert install(app.test_client(), stack.server, platform, account["account_id"]).status_code == 302
    # Live for a while already: leads the tests create are clearly newer than the go-live. (An owned lead
    # created within integration.pipeline.new_leads.SKEW of it counts as new only with its creation webhook, and
    # these tests drop webhooks on purpose.)
    live_since = dt.datetime.now(dt.UTC) - SKEW - dt.timedelta(seconds=5)
    with session_scope(stack.env["DATABASE_URL"]) as s:
        tenant = s.scalar(select(Tenant).where(Tenant.platform == platform))
        tenant.installed_at = live_since
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES,
                             created_at=live_since, published_at=live_since))
        return Tenancy(platform=platform, tenant_id=tenant.id, account_id=account["account_id"])


def point_salesforce_outbound(stack: LiveStack, **settings: Any) -> None:
    """Point the org's Outbound Messages at the Salesforce tenant's webhook URL (its key and secret in the path);
    `settings` go with it (e.g. `fields=["Id"]`; default: the fields LeadRelay's install guide lists)."""
    from oauth.crypto import TokenCipher

    tenancy = stack.tenants["salesforce"]
    with session_scope(stack.env["DATABASE_URL"]) as s:
        row = s.scalar(select(WebhookKey).where(WebhookKey.tenant_id == tenancy.tenant_id))
        key, secret = row.key, TokenCipher.from_settings().decrypt(row.secret_enc)
    stack.simulate("salesforce", {"action": "configure_outbound",
                                  "endpoint_url": f"{stack.url}/webhooks/salesforce/{key}/{secret}", **settings})


@contextlib.contextmanager
def wired_stack(crm_env, live_app, crm_sandbox, monkeypatch):
    """The live app and the sandbox wired for webhooks, with no tenant yet (add them to `stack.tenants`)."""
    # after create_app: OAuth redirect URIs stay http://localhost, webhook subscriptions go to the live port
    monkeypatch.setenv("LEADRELAY_PUBLIC_URL", live_app)
    monkeypatch.setenv("HUBSPOT_APP_ID", str(HUBSPOT_APP_ID))
    stack = LiveStack(url=live_app, server=crm_sandbox, env={**crm_env, "LEADRELAY_PUBLIC_URL": live_app,
                                                             "HUBSPOT_APP_ID": str(HUBSPOT_APP_ID)})
    hubspot_app = _register_hubspot(stack, f"{live_app}/webhooks/hubspot")
    # as the real CRMs behave (search lag, Outbound Messages with the selected fields, duplicate rules); _restore's
    # reset goes back to the session sandbox's kind defaults for the unit tests after this one
    stack.configure(profile="realistic")
    try:
        yield stack
    finally:
        _restore(stack, hubspot_app)


@pytest.fixture(name="live_stack")
def live_stack_fixture(crm_env, app, live_app, crm_sandbox, monkeypatch):
    """Three installed tenants (HubSpot, Salesforce, Pipedrive) whose CRMs post webhooks to the live app."""
    with wired_stack(crm_env, live_app, crm_sandbox, monkeypatch) as stack:
        for platform in PLATFORMS:
            stack.tenants[platform] = _install_tenant(stack, app, platform)
        stack.work(["maintenance"])  # verify the grants, subscribe Pipedrive's webhooks
        point_salesforce_outbound(stack)
        yield stack


def _restore(stack: LiveStack, hubspot_app: Any) -> None:
    from sandbox.hubspot.hubstate import hub

    with contextlib.suppress(requests.RequestException):
        stack.configure(webhook_drop_rate=0.0, webhook_duplicate_rate=0.0, latency_ms=0)
        # nothing of ours may still be on its way when the next test looks at the outbox
        stack.server.sandbox.outbox.wait_idle(15)
        if "salesforce" in stack.tenants:
            stack.simulate("salesforce", {"action": "configure_outbound", "endpoint_url": None})
        stack.control("POST", "/config/reset")
    hub(stack.server.sandbox).apps[APPS["hubspot"]["client_id"]] = hubspot_app  # exactly as the session had it
