"""LeadRelay's owner write in a Salesforce org with active duplicate rules, through the adapter against the sandbox.

An org whose rule only alerts saves LeadRelay's write: the adapter sends `Sforce-Duplicate-Rule-Header:
allowSave=true` (REST API Developer Guide, Duplicate Rule Header). A rule that blocks refuses it whatever the header
says: the lead goes to the review queue with Salesforce's message, its route decision is kept, and it is not retried
in a loop (one batch call and one call alone; again only when the lead changes again)."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import Decision, EventRecord, ReviewItem
from integration.records import Event
from tests.crm_helpers import browser, install_with_rules
from tests.workers import BurstWorker

pytestmark = pytest.mark.e2e
OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": "America/New_York"},
          {"email": "ben.owner@leadrelay.test", "name": "Ben Owner", "timezone": "Europe/Berlin"}]
RULES = {"version": 1, "timezone": "UTC", "owners": [{"email": o["email"]} for o in OWNERS],
         # Ana, not Ben: the sandbox's UI user who creates the leads below, so routing changes their owner
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": OWNERS[0]["email"]}}],
         "fallback": {"review": True}}
# a custom rule such as "one open lead per company" (the standard rules only report on edit)
ONE_PER_COMPANY = {"sobject": "Lead", "name": "One_Lead_Per_Company", "on_edit": "block", "match": ["Company"],
                   "message": "This company already has a lead: use that one."}


class Org:
    def __init__(self, server, account: dict, env: dict, tenant_id: int) -> None:
        self.server, self.account, self.env, self.tenant_id = server, account, env, tenant_id
        self.http = browser(server)
        self.deliveries = 0

    def _control(self, path: str, **kwargs) -> dict:
        resp = self.http.request(kwargs.pop("method", "GET"), f"{self.server.url}/_sandbox{path}", timeout=10,
                                 **kwargs)
        resp.raise_for_status()
        return resp.json()

    def rules(self, rules: list[dict]) -> None:
        self._control("/config", method="POST", json={"duplicate_rules": rules})

    def ui(self, payload: dict) -> dict:
        return self._control(f"/accounts/{self.account['account_id']}/simulate", method="POST", json=payload)

    def lead(self, last_name: str, email: str) -> str:
        return self.ui({"action": "create", "object_type": "Lead", "properties": {
            "FirstName": "Ada", "LastName": last_name, "Email": email, "Company": "Analytical Engines"}})["Id"]

    def owner(self, lead_id: str) -> str:
        rows = self._control(f"/accounts/{self.account['account_id']}/Lead")["results"]
        return next(r["OwnerId"] for r in rows if r["Id"] == lead_id)

    def writes(self) -> int:
        calls = self._control(f"/accounts/{self.account['account_id']}/calls")["calls"]
        return sum(1 for c in calls if c["method"] in ("PATCH", "POST") and "/sobjects" in c["path"])

    def deliver(self, lead_id: str) -> None:
        """What the webhook endpoint does with the lead's notification, then the drain (the endpoint has its tests)."""
        self.deliveries += 1
        with session_scope(self.env["DATABASE_URL"]) as s:
            record_events(s, self.tenant_id, [Event(
                platform="salesforce", account_id=self.account["account_id"], object_type="lead", object_id=lead_id,
                kind="changed", occurred_at=None, event_id=f"04l-{lead_id}-{self.deliveries}")])
        enqueue_drain(self.tenant_id)
        BurstWorker(["intake", "sla"], connection=Redis.from_url(self.env["REDIS_URL"])).work(burst=True)


@pytest.fixture()
def org(crm_env, app, crm_sandbox):
    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "salesforce",
                                            RULES, "Duplicate rules org", OWNERS)
    yield Org(crm_sandbox, account, crm_env, tenant_id)
    crm_sandbox.sandbox.config.reset()


def route_decision(env, lead_id: str) -> Decision | None:
    with session_scope(env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.idempotency_key == f"route:lead:{lead_id}"))
        if decision is not None:
            s.expunge(decision)
        return decision


def review_items(env) -> list[tuple[str, str, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        items = s.scalars(select(ReviewItem).where(ReviewItem.status == "open"))
        return [(i.kind, i.object_id, i.reason) for i in items]


def test_an_alert_rule_does_not_stop_leadrelays_owner_write(org, crm_env):
    org.lead("Lovelace", "ada@engines.example")
    new = org.lead("Byron", "ada.byron@engines.example")  # same company: a duplicate for the org's rule
    rep = org.owner(new)
    org.rules([{**ONE_PER_COMPANY, "on_edit": "alert"}])
    org.deliver(new)
    decision = route_decision(crm_env, new)
    assert decision is not None and decision.inputs.get("written_at"), decision and decision.inputs
    assert org.owner(new) == decision.inputs["owner_id"] != rep
    assert review_items(crm_env) == []


def test_a_block_rule_parks_the_lead_for_review_with_salesforces_message_once(org, crm_env):
    first = org.lead("Lovelace", "ada@engines.example")
    new = org.lead("Byron", "ada.byron@engines.example")
    rep = org.owner(new)
    org.rules([ONE_PER_COMPANY])
    before = org.writes()
    org.deliver(new)

    decision = route_decision(crm_env, new)
    assert decision.outcome == OWNERS[0]["email"] and not decision.inputs.get("written_at")  # decided, kept
    assert "fields_error" not in decision.inputs  # the refusal is about the record, not LeadRelay's fields
    [(kind, object_id, reason)] = review_items(crm_env)
    assert (kind, object_id) == ("crm_error", new)
    assert "DUPLICATES_DETECTED: This company already has a lead: use that one." in reason and first in reason
    assert org.owner(new) == rep  # nothing changed in Salesforce
    assert org.writes() - before == 2  # the batch, then the lead alone: no retry storm
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert [e.status for e in s.scalars(select(EventRecord))] == ["processed"]

    org.deliver(new)  # the lead changes again (an edit in Salesforce): tried once more, still one review item
    assert org.writes() - before == 4 and len(review_items(crm_env)) == 1

    org.rules([])  # the admin deactivates the rule; the next change of the lead finishes the write
    org.deliver(new)
    assert org.owner(new) == route_decision(crm_env, new).inputs["owner_id"]
    assert dt.datetime.fromisoformat(route_decision(crm_env, new).inputs["written_at"])
