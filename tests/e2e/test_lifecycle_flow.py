"""Lifecycle stages follow deals, forward only, and idle leads get a reactivation task: through the sandbox."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, RuleSetVersion, Tenant
from integration.stale import reactivate_stale
from tests.crm_helpers import browser, install, new_account
from tests.e2e.test_pipeline_flow import LEAD, LEAD_OBJECT, OWNERS, RULES, deliver, record_id, simulate

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
        account = new_account(crm_sandbox, platform, name=f"Lifecycle {platform}", users=OWNERS)
        assert install(app.test_client(), crm_sandbox, platform, account["account_id"]).status_code == 302
        with session_scope(crm_env["DATABASE_URL"]) as s:
            tenant = s.scalar(select(Tenant))
            s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=LIFECYCLE_RULES))
            return tenant.id, account
    return make


def stored(server, account: dict, object_type: str) -> list[dict]:
    resp = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{object_type}")
    resp.raise_for_status()
    return resp.json()["results"]


def lifecycle_decisions(env) -> list[tuple[str, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(d.object_id, d.outcome) for d in s.scalars(
            select(Decision).where(Decision.kind == "lifecycle").order_by(Decision.id))]


def test_hubspot_a_won_deal_makes_the_contact_a_customer_and_moving_it_back_is_refused(tenant_for, crm_env,
                                                                                       crm_sandbox):
    tenant_id, account = tenant_for("hubspot")
    contact = record_id("hubspot", simulate(crm_sandbox, account, {
        "action": "create", "object_type": "contacts",
        "properties": {"firstname": "Ada", "lastname": "King", "email": "ada@engine.example"}}))
    deal = record_id("hubspot", simulate(crm_sandbox, account, {
        "action": "create", "object_type": "deals",
        "properties": {"dealname": "Engine", "dealstage": "appointmentscheduled", "pipeline": "default"}}))
    simulate(crm_sandbox, account, {"action": "associate", "object_type": "deals", "id": deal,
                                    "to_object_type": "contacts", "to_id": contact})

    def stage() -> str | None:
        return next(c for c in stored(crm_sandbox, account, "contacts") if c["id"] == contact)[
            "properties"].get("lifecyclestage")

    deliver(crm_env, tenant_id, "hubspot", "deal", deal, n=1)
    assert stage() == "opportunity"
    simulate(crm_sandbox, account, {"action": "update", "object_type": "deals", "id": deal,
                                    "properties": {"dealstage": "closedwon"}})
    deliver(crm_env, tenant_id, "hubspot", "deal", deal, n=2)
    deliver(crm_env, tenant_id, "hubspot", "deal", deal, n=3)  # the webhook, replayed
    assert stage() == "customer"

    simulate(crm_sandbox, account, {"action": "update", "object_type": "deals", "id": deal,
                                    "properties": {"dealstage": "contractsent"}})  # the deal reopened
    deliver(crm_env, tenant_id, "hubspot", "deal", deal, n=4)
    assert stage() == "customer"
    simulate(crm_sandbox, account, {"action": "update", "object_type": "contacts", "id": contact,
                                    "properties": {"lifecyclestage": "lead"}})  # a user moves it back
    deliver(crm_env, tenant_id, "hubspot", "contact", contact, n=5)
    deliver(crm_env, tenant_id, "hubspot", "contact", contact, n=6)
    assert stage() == "customer"
    assert lifecycle_decisions(crm_env) == [(contact, "set"), (contact, "set"), (contact, "refused"),
                                            (contact, "restored")]


DEAL_WITH_CONTACT = {  # (contact object, contact properties, deal object, deal properties given the contact id)
    "salesforce": ("Contact", {"LastName": "King", "Email": "ada@x.example"}, "Opportunity",
                   lambda c: {"Name": "Engine", "StageName": "Closed Won", "CloseDate": "2026-03-01", "ContactId": c}),
    "pipedrive": ("persons", {"name": "Ada King"}, "deals",
                  lambda c: {"title": "Engine", "person_id": int(c), "status": "won"}),
}


@pytest.mark.parametrize("platform", ["salesforce", "pipedrive"])
def test_contacts_without_a_stage_field_are_skipped_with_an_audit(tenant_for, crm_env, crm_sandbox, platform):
    """Salesforce Contacts and Pipedrive persons (no custom field mapped) have no lifecycle stage."""
    tenant_id, account = tenant_for(platform)
    contact_type, contact_props, deal_type, deal_props = DEAL_WITH_CONTACT[platform]
    contact = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": contact_type,
                                                                  "properties": contact_props}))
    deal = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": deal_type,
                                                               "properties": deal_props(contact)}))
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
        SimpleWorker(["sweep"], connection=conn).work(burst=True)

    table, subject = TASKS[platform]
    tasks = [t for t in stored(crm_sandbox, account, table)
             if str((t.get("properties") or t).get(subject) or "").startswith("Reactivate")]
    assert len(tasks) == 1, tasks
    with session_scope(crm_env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.kind == "reactivation"))
        assert (decision.object_id, decision.outcome) == (lead, "task")
        assert decision.reason.startswith("Idle 15 days in stage lead (limit 14d); task for ben.owner@leadrelay.test")
