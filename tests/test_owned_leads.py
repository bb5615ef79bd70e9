"""Leads a rep owned before the install keep their owner on every CRM, whichever path brings them in (a webhook
about an edit, the sweep, the backfill), and get no task; a lead created after the install is still routed.

Real adapters against the sandbox, jobs in this process (the e2e journey runs the same with a worker process).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import Decision, RuleSetVersion, Tenant
from integration.records import Event
from tests.crm_helpers import browser, install, new_account
from tests.team_rules import ANA, BEN, OWNER_FIELD, OWNERS, RULES, USERS
from tests.workers import BurstWorker

PLATFORMS = ("hubspot", "salesforce", "pipedrive")
# each platform's own names: the lead object (sandbox / LeadRelay), its owner field, its users, its tasks
SANDBOX_OBJECT = {"hubspot": "contacts", "salesforce": "Lead", "pipedrive": "persons"}
LEAD_OBJECT = {"hubspot": "contact", "salesforce": "lead", "pipedrive": "contact"}
TASKS = {"hubspot": "tasks", "salesforce": "Task", "pipedrive": "activities"}


def person(platform: str, n: int, **extra) -> dict:
    first, last, email = "Ada", f"Lovelace{chr(97 + n)}", f"ada.{n}@owned{n}.example"
    if platform == "hubspot":
        return {"firstname": first, "lastname": last, "email": email, **extra}
    if platform == "salesforce":
        return {"FirstName": first, "LastName": last, "Email": email, "Company": f"Owned {n}", **extra}
    return {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}], **extra}


@dataclass
class World:
    """One CRM account with leads a rep owned before LeadRelay was installed, then installed with rules."""

    platform: str
    server: object
    env: dict
    account: dict
    users: dict[str, str]  # email -> the CRM's user/owner id
    tenant_id: int = 0
    old: dict[str, str | None] = field(default_factory=dict)  # lead id -> its owner before the install

    def control(self, method: str, path: str, **kwargs):
        resp = browser(self.server).request(method, f"{self.server.url}/_sandbox/accounts/{self.account['account_id']}"
                                            f"{path}", timeout=30, **kwargs)
        resp.raise_for_status()
        return resp.json()

    def create(self, n: int, owner: str | None = None) -> str:
        """A lead made in the CRM UI, owned by `owner` (an email) when given, else as the CRM decides."""
        extra = {}
        if owner is not None:
            value = self.users[owner]
            extra[OWNER_FIELD[self.platform]] = int(value) if self.platform == "pipedrive" else value
        made = self.control("POST", "/simulate", json={"action": "create", "object_type": SANDBOX_OBJECT[self.platform],
                                                        "properties": person(self.platform, n, **extra)})
        return str(made.get("id") or made.get("Id") or made.get("data", {}).get("id"))

    def edit(self, lead_id: str) -> None:
        """A rep edits the lead in the CRM (not its owner)."""
        props = {"hubspot": {"jobtitle": "CTO"}, "salesforce": {"Title": "CTO"},
                 "pipedrive": {"name": "Ada Lovelace-King"}}[self.platform]
        self.control("POST", "/simulate", json={"action": "update", "object_type": SANDBOX_OBJECT[self.platform],
                                                "id": lead_id, "properties": props})

    def assign(self, lead_id: str, owner: str) -> None:
        value = self.users[owner]
        self.control("POST", "/simulate", json={
            "action": "update", "object_type": SANDBOX_OBJECT[self.platform], "id": lead_id,
            "properties": {OWNER_FIELD[self.platform]: int(value) if self.platform == "pipedrive" else value}})

    def owners(self) -> dict[str, str | None]:
        rows = self.control("GET", f"/{SANDBOX_OBJECT[self.platform]}")["results"]
        return {str(r.get("id") or r.get("Id")): _owner(self.platform, r) for r in rows}

    def tasks(self) -> list[dict]:
        return self.control("GET", f"/{TASKS[self.platform]}")["results"]

    def webhook(self, lead_id: str, kind: str) -> None:
        """What the webhook endpoint does with the CRM's notification (the endpoint has its own tests)."""
        with session_scope(self.env["DATABASE_URL"]) as s:
            record_events(s, self.tenant_id, [Event(
                platform=self.platform, account_id="", object_type=LEAD_OBJECT[self.platform], object_id=lead_id,
                kind=kind, occurred_at=dt.datetime.now(dt.UTC), event_id=f"test-{kind}-{lead_id}-{time.time()}")])
        enqueue_drain(self.tenant_id)
        self.work()

    def work(self) -> None:
        BurstWorker(["intake", "sweep"], connection=Redis.from_url(self.env["REDIS_URL"])).work(burst=True)

    def routed(self) -> dict[str, str]:
        with session_scope(self.env["DATABASE_URL"]) as s:
            return {d.object_id: d.outcome for d in s.scalars(select(Decision).where(
                Decision.tenant_id == self.tenant_id, Decision.kind == "route"))}

    def assert_old_leads_untouched(self) -> None:
        owners = self.owners()
        assert {i: owners[i] for i in self.old} == self.old, "an owner a rep set was changed"
        assert not set(self.routed()) & set(self.old), "a lead owned before the install was routed"


def _owner(platform: str, row: dict) -> str | None:
    value = row["properties"].get("hubspot_owner_id") if platform == "hubspot" else row.get(OWNER_FIELD[platform])
    return str(value) if value not in (None, "") else None


@pytest.fixture()
def world(crm_env, app, crm_sandbox):
    def make(platform: str, unowned: int = 0) -> World:
        account = new_account(crm_sandbox, platform, name=f"Owned {platform}", users=OWNERS)
        probe = World(platform, crm_sandbox, crm_env, account, {})
        table, email, key = USERS[platform]
        probe.users = {str(u[email]).lower(): str(u[key]) for u in probe.control("GET", f"/{table}")["results"]}
        for n in range(3):  # what a rep owns already, created moments before the install (the demo's case)
            probe.create(n, owner=BEN if n % 2 else ANA)
        for n in range(3, 3 + unowned):
            probe.create(n)
        probe.old = probe.owners()
        assert install(app.test_client(), crm_sandbox, platform, account["account_id"]).status_code == 302
        with session_scope(crm_env["DATABASE_URL"]) as s:
            probe.tenant_id = s.scalar(select(Tenant.id).where(Tenant.platform == platform))
            s.add(RuleSetVersion(tenant_id=probe.tenant_id, version=1, status="published", body=RULES))
        return probe
    return make


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_webhook_about_an_edit_leaves_an_owned_lead_alone_and_a_new_lead_is_routed(world, platform):
    w = world(platform)
    for lead_id in w.old:
        w.edit(lead_id)
        w.webhook(lead_id, "updated")
    new = w.create(9)
    w.webhook(new, "created")
    w.assert_old_leads_untouched()
    assert set(w.routed()) == {new} and w.routed()[new] in (ANA, BEN)
    assert len(w.tasks()) == 1  # the new lead's SLA task, nothing for the others


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_sweep_leaves_owned_leads_alone_and_routes_a_lead_created_after_the_install(world, platform,
                                                                                        monkeypatch):
    monkeypatch.setattr("integration.pipeline.new_leads.SKEW", dt.timedelta(seconds=1))  # instead of waiting a minute
    w = world(platform)
    time.sleep(2.2)  # past the margin, and past Pipedrive's add_time, which has whole seconds
    new = w.create(9)  # its webhook went nowhere: only the sweep can find it
    from integration.intake.sweep import sweep_tenant

    assert sweep_tenant(w.tenant_id) == len(w.old) + 1  # every lead changed since the install, none seen before
    w.work()
    w.assert_old_leads_untouched()
    assert set(w.routed()) == {new}
    assert len(w.tasks()) == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_backfill_routes_no_owned_lead(world, platform):
    """Salesforce and Pipedrive leads always have an owner (OwnerId is required; Pipedrive sets the creator), so
    the backfill queues none of them; HubSpot's unowned contacts are queued and routed."""
    w = world(platform, unowned=1 if platform == "hubspot" else 0)
    from integration.intake.backfill import backfill_tenant

    progress = backfill_tenant(w.tenant_id)
    w.work()
    unowned = [i for i, owner in w.old.items() if owner is None]
    assert progress["indexed"] == len(w.old) and progress["unowned"] == len(unowned)
    assert set(w.routed()) == set(unowned)
    owners = w.owners()
    assert {i: owners[i] for i, o in w.old.items() if o} == {i: o for i, o in w.old.items() if o}
    assert len(w.tasks()) == len(unowned)


def test_a_contact_the_backfill_queued_unowned_and_a_rep_took_meanwhile_keeps_that_rep(world):
    """HubSpot (the only CRM here with unowned leads): between the backfill's read and the drain, a rep takes the
    contact; the drain reads it again, owned and older than the install, and leaves it to the rep."""
    w = world("hubspot", unowned=1)
    [lead_id] = [i for i, owner in w.old.items() if owner is None]
    from integration.intake.backfill import backfill_tenant

    assert backfill_tenant(w.tenant_id)["unowned"] == 1
    w.assign(lead_id, BEN)
    w.work()
    assert w.owners()[lead_id] == w.users[BEN]
    assert w.routed() == {} and w.tasks() == []
