"""Lifecycle stages follow deals, forward only, and idle leads get a reactivation task: through the sandbox."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from sqlalchemy import select

from adapters.subscriptions import ensure_tenant_fields
from integration.db import session_scope
from integration.followup.stale import reactivate_stale
from integration.models import Decision, Tenant
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_pipeline_flow import LEAD, LEAD_OBJECT, OWNERS, RULES, deliver, record_id, simulate
from tests.workers import BurstWorker

LIFECYCLE_RULES = {
    **RULES,
    "stale": [{"stage": "lead", "after": "14d", "action": "reactivation_task"}],
    "lifecycle": {"rules": [{"when": {"deal": "open"}, "set": "opportunity"},
                            {"when": {"deal": "won"}, "set": "customer"}]},
}
TASKS = {"hubspot": ("tasks", "hs_task_subject"), "salesforce": ("Task", "Subject"),
         "pipedrive": ("activities", "subject")}


@pytest.fixture()
def tenant_for(crm_env, app, crm_sandbox):
    def make(platform: str) -> tuple[int, dict]:
        return install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform,
                                  LIFECYCLE_RULES, f"Lifecycle {platform}", OWNERS)
    return make


def stored(server, account: dict, object_type: str) -> list[dict]:
    resp = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{object_type}")
    resp.raise_for_status()
    return resp.json()["results"]


def lifecycle_decisions(env) -> list[tuple[str, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(d.object_id, d.outcome) for d in s.scalars(
            select(Decision).where(Decision.kind == "lifecycle").order_by(Decision.id))]


PEOPLE = {"hubspot": ("contacts", {"firstname": "Ada", "lastname": "King", "email": "ada@engine.example"}),
          "salesforce": ("Contact", {"LastName": "King", "Email": "ada@engine.example"}),
          "pipedrive": ("persons", {"name": "Ada King"})}
DEALS = {  # (deal object, properties for an open deal given the contact id, the "won" update, the "reopened" one)
    "hubspot": ("deals", lambda c: {"dealname": "Engine", "dealstage": "appointmentscheduled", "pipeline": "default"},
                {"dealstage": "closedwon"}, {"dealstage": "contractsent"}),
    "salesforce": ("Opportunity", lambda c: {"Name": "Engine", "StageName": "Prospecting", "CloseDate": "2026-03-01",
                                             "ContactId": c},
                   {"StageName": "Closed Won"}, {"StageName": "Negotiation/Review"}),
    "pipedrive": ("deals", lambda c: {"title": "Engine", "person_id": int(c), "status": "open"},
                  {"status": "won"}, {"status": "open"}),
}


def stage_field(env, tenant_id: int, platform: str) -> str:
    """Where the contact's stage lives: HubSpot's lifecyclestage, else LeadRelay's own field."""
    if platform == "hubspot":
        return "lifecyclestage"
    if platform == "salesforce":
        return "LeadRelay_Lifecycle__c"
    with session_scope(env["DATABASE_URL"]) as s:  # Pipedrive: the person field's hash key
        return s.get(Tenant, tenant_id).settings["leadrelay_fields"]["keys"]["leadrelay_lifecycle"]


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_a_won_deal_makes_the_contact_a_customer_and_moving_it_back_is_refused(tenant_for, crm_env, crm_sandbox,
                                                                               platform):
    tenant_id, account = tenant_for(platform)
    assert ensure_tenant_fields(tenant_id) is not None  # the install's job: LeadRelay's own fields
    field = stage_field(crm_env, tenant_id, platform)
    contact_type, contact_props = PEOPLE[platform]
    deal_type, open_deal, won, reopened = DEALS[platform]
    contact = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": contact_type,
                                                                  "properties": contact_props}))
    deal = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": deal_type,
                                                               "properties": open_deal(contact)}))
    if platform == "hubspot":
        simulate(crm_sandbox, account, {"action": "associate", "object_type": "deals", "id": deal,
                                        "to_object_type": "contacts", "to_id": contact})

    def stage() -> str | None:
        row = next(c for c in stored(crm_sandbox, account, contact_type) if str(c.get("id") or c.get("Id")) == contact)
        return (row.get("properties") or row.get("custom_fields") or row).get(field)  # Pipedrive: custom_fields

    def update(object_type: str, object_id: str, properties: dict) -> None:
        simulate(crm_sandbox, account, {"action": "update", "object_type": object_type, "id": object_id,
                                        "properties": properties})

    deliver(crm_env, tenant_id, platform, "deal", deal, n=1)
    assert stage() == "opportunity"
    update(deal_type, deal, won)
    deliver(crm_env, tenant_id, platform, "deal", deal, n=2)
    deliver(crm_env, tenant_id, platform, "deal", deal, n=3)  # the webhook, replayed
    deliver(crm_env, tenant_id, platform, "deal", deal, n=3)  # the same delivery again, and the drain job re-run
    assert stage() == "customer"

    update(deal_type, deal, reopened)  # the deal reopened: the rule says opportunity, but that is backwards
    deliver(crm_env, tenant_id, platform, "deal", deal, n=4)
    assert stage() == "customer"
    moved_back = {"custom_fields": {field: "lead"}} if platform == "pipedrive" else {field: "lead"}
    update(contact_type, contact, moved_back)  # a user moves it back
    deliver(crm_env, tenant_id, platform, "contact", contact, n=5)
    deliver(crm_env, tenant_id, platform, "contact", contact, n=6)  # replayed
    assert stage() == "customer"
    assert lifecycle_decisions(crm_env) == [(contact, "set"), (contact, "set"), (contact, "refused"),
                                            (contact, "restored")]


def test_before_the_pipedrive_person_field_exists_the_stage_is_skipped_with_an_audit(tenant_for, crm_env,
                                                                                    crm_sandbox):
    """Pipedrive persons keep the stage in LeadRelay's person field: until the install job created it, the
    decision is recorded as skipped, once under a replay."""
    platform = "pipedrive"
    tenant_id, account = tenant_for(platform)
    contact_type, contact_props = PEOPLE[platform]
    deal_type, open_deal, won, _ = DEALS[platform]
    contact = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": contact_type,
                                                                  "properties": contact_props}))
    deal = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": deal_type,
                                                               "properties": {**open_deal(contact), **won}}))
    deliver(crm_env, tenant_id, platform, "deal", deal, n=1)
    deliver(crm_env, tenant_id, platform, "deal", deal, n=2)
    assert lifecycle_decisions(crm_env) == [(contact, "skipped")]


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_a_lead_idle_past_its_stage_limit_gets_one_reactivation_task(tenant_for, crm_env, crm_sandbox, platform):
    tenant_id, account = tenant_for(platform)
    object_type, properties = LEAD[platform]
    lead = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                               "properties": properties}))
    deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], lead)
    with session_scope(crm_env["DATABASE_URL"]) as s:  # routed 20 days ago, as far as our records go
        s.scalar(select(Decision).where(Decision.kind == "route")).created_at -= dt.timedelta(days=20)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=15)).isoformat()
    conn = Redis.from_url(crm_env["REDIS_URL"])
    for attempt in range(2):  # the job, then a retry of it
        reactivate_stale.enqueue(tenant_id, later, job_id=f"stale-e2e-{attempt}")
        BurstWorker(["sweep"], connection=conn).work(burst=True)

    table, subject = TASKS[platform]
    tasks = [t for t in stored(crm_sandbox, account, table)
             if str((t.get("properties") or t).get(subject) or "").startswith("Reactivate")]
    assert len(tasks) == 1, tasks
    with session_scope(crm_env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.kind == "reactivation"))
        assert (decision.object_id, decision.outcome) == (lead, "task")
        assert decision.reason.startswith("Idle 15 days in stage lead (limit 14d); task for ben.owner@leadrelay.test")
