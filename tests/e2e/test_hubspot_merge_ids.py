"""HubSpot merges make a new record under a new id (developer changelog "Updated merge functionality for contacts and
companies"): what LeadRelay keeps of the merged leads follows them there, whoever merged.

- LeadRelay merges a sure duplicate: the merged record's id is new; the SLA clock, its task and the decisions are on
  it, the clock is checked there, and a later change to it routes nothing again.
- A person merges two routed leads in HubSpot: the merge webhook (delivered twice, as HubSpot may) moves both leads'
  clocks and decisions to the new id; the two clocks of one tier become one; nothing is routed again.
(Undoing a merge that made a new id: tests/e2e/test_undo_merge.py, hubspot.)
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.followup.sla import check_sla
from integration.models import Decision, DedupKey, EventRecord, MergeSnapshot, RuleSetVersion, SlaTimer, Tenant
from integration.pipeline.new_leads import SKEW
from tests.crm_helpers import browser, install, install_with_rules, new_account
from tests.e2e.live_stack import Tenancy, wired_stack
from tests.e2e.test_pipeline_flow import LEAD, _variant, deliver, record_id, simulate
from tests.e2e.test_sla_flow import RULES, USERS
from tests.team_rules import OWNERS
from tests.team_rules import RULES as TEAM_RULES

pytestmark = pytest.mark.e2e


def rows(env, model) -> list:
    """The model's rows about contacts (not, say, the audit of the install's members)."""
    with session_scope(env["DATABASE_URL"]) as s:
        found = list(s.scalars(select(model).where(model.object_type == "contact").order_by(model.id)))
        s.expunge_all()
        return found


def crm_records(server, account: dict, object_type: str) -> list[dict]:
    url = f"{server.url}/_sandbox/accounts/{account['account_id']}/{object_type}"
    return browser(server).get(url, timeout=10).json()["results"]


def test_leadrelays_own_merge_takes_the_clock_its_task_and_the_decisions_to_the_new_id(crm_env, app, crm_sandbox):
    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "hubspot",
                                            RULES, "Merge ids", USERS)
    sobject, properties = LEAD["hubspot"]
    first = record_id("hubspot", simulate(crm_sandbox, account, {"action": "create", "object_type": sobject,
                                                                 "properties": properties}))
    deliver(crm_env, tenant_id, "hubspot", "contact", first)
    [timer] = rows(crm_env, SlaTimer)
    second = record_id("hubspot", simulate(crm_sandbox, account, {"action": "create", "object_type": sobject,
                                                                  "properties": _variant("hubspot", properties)}))
    deliver(crm_env, tenant_id, "hubspot", "contact", second)

    [snapshot] = rows(crm_env, MergeSnapshot)
    merged = snapshot.survivor_id
    assert snapshot.status == "merged" and merged not in (first, second)
    [moved] = rows(crm_env, SlaTimer)
    assert (moved.id, moved.key, moved.object_id, moved.status, moved.task_id) == (
        timer.id, f"sla:contact:{merged}:hot", merged, "pending", timer.task_id)
    task = next(t for t in crm_records(crm_sandbox, account, "tasks") if t["id"] == timer.task_id)
    assert [r["id"] for r in task["associations"]["contacts"]["results"]] == [merged]  # HubSpot moved it
    decisions = {d.idempotency_key: d for d in rows(crm_env, Decision)}
    assert {d.object_id for d in decisions.values()} == {merged}
    owner_email = decisions[f"route:contact:{merged}"].outcome  # the first lead's, under the new id
    assert decisions[f"route:contact:{second}"].outcome == "merged"
    assert {k.object_id for k in rows(crm_env, DedupKey)} == {merged}

    # the clock is checked where the lead lives now: the rep completes the task on the merged record
    simulate(crm_sandbox, account, {"action": "update", "object_type": "tasks", "id": timer.task_id,
                                    "properties": {"hs_task_status": "COMPLETED"}})
    assert check_sla(tenant_id, timer.id, int(moved.due_at.timestamp())) == "met"
    # a person edits the merged record: its webhook routes nothing again
    simulate(crm_sandbox, account, {"action": "update", "object_type": "contacts", "id": merged,
                                    "properties": {"jobtitle": "Rear Admiral"}})
    deliver(crm_env, tenant_id, "hubspot", "contact", merged, n=7)
    assert len([d for d in rows(crm_env, Decision) if d.kind == "route"]) == 2
    record = next(r for r in crm_records(crm_sandbox, account, "contacts") if r["id"] == merged)
    owners = {o["email"]: o["id"] for o in crm_records(crm_sandbox, account, "owners")}
    assert record["properties"]["hubspot_owner_id"] == owners[owner_email]


def _install(stack, app) -> Tenancy:
    """LeadRelay installed into a new HubSpot portal through OAuth, live a moment before the leads are made."""
    account = new_account(stack.server, "hubspot", name="Merged in the UI", users=OWNERS)
    assert install(app.test_client(), stack.server, "hubspot", account["account_id"]).status_code == 302
    live_since = dt.datetime.now(dt.UTC) - SKEW - dt.timedelta(seconds=5)
    with session_scope(stack.env["DATABASE_URL"]) as s:
        tenant = s.scalar(select(Tenant).where(Tenant.platform == "hubspot"))
        tenant.installed_at = live_since
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=TEAM_RULES,
                             created_at=live_since, published_at=live_since))
        return Tenancy(platform="hubspot", tenant_id=tenant.id, account_id=account["account_id"])


def test_a_merge_in_the_hubspot_ui_moves_both_leads_to_the_new_id_once(crm_env, app, live_app, crm_sandbox,
                                                                       monkeypatch):
    from tests.conftest import APPS, PUBLIC_URL

    with wired_stack(crm_env, live_app, crm_sandbox, monkeypatch) as stack:
        stack.control("POST", "/apps", json={  # the app also subscribes to merges (restored by wired_stack)
            "platform": "hubspot", **APPS["hubspot"], "redirect_uris": [f"{PUBLIC_URL}/oauth/hubspot/callback"],
            "target_url": f"{live_app}/webhooks/hubspot", "app_id": 4242,
            "subscriptions": ["contact.creation", "contact.propertyChange", "contact.merge"]})
        stack.tenants["hubspot"] = _install(stack, app)
        primary = stack.create_lead("hubspot", 1, tag="ui")
        other = stack.create_lead("hubspot", 2, tag="ui")
        stack.wait_webhooks_idle()
        stack.settle()
        routed = {d.object_id: d for d in stack.route_decisions("hubspot")}
        assert sorted(routed) == sorted([primary, other]) and len(rows(stack.env, SlaTimer)) == 2
        first_owner = stack.owners_in_crm("hubspot")[primary]

        stack.configure(webhook_duplicate_rate=1.0)  # HubSpot may deliver an event twice
        made = stack.simulate("hubspot", {"action": "merge", "object_type": "contacts", "primary_id": primary,
                                          "merged_id": other})
        stack.wait_webhooks_idle()
        stack.settle()

        merged = str(made["id"])
        assert merged not in (primary, other)
        assert [e.object_id for e in rows(stack.env, EventRecord) if e.kind == "merged"] == [merged]
        decisions = {d.idempotency_key: d for d in rows(stack.env, Decision)}
        assert {d.object_id for d in decisions.values()} == {merged}
        assert decisions[f"route:contact:{merged}"].outcome == routed[primary].outcome  # the primary's decision
        assert decisions[f"route:contact:{other}"].outcome == routed[other].outcome  # the other's, its own key
        assert len(stack.route_decisions("hubspot")) == 2  # nobody routed the merged record again
        timers = rows(stack.env, SlaTimer)
        tier = timers[0].policy
        assert {(t.object_id, t.status) for t in timers} == {(merged, "pending"), (merged, "merged")}
        assert [t.key for t in timers if t.status == "pending"] == [f"sla:contact:{merged}:{tier}"]
        assert {k.object_id for k in rows(stack.env, DedupKey)} == {merged}
        assert stack.owners_in_crm("hubspot")[merged] == first_owner
        assert stack.failed_jobs() == {}
