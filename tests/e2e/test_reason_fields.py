"""Write back (issue 6): after install LeadRelay's own fields exist on each CRM, and a new lead is owned with its
score, tier, routing rule and reason set on the record, through the adapters against the sandbox."""
from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from adapters.factory import build_adapter
from adapters.subscriptions import ensure_tenant_fields
from integration.db import session_scope
from integration.models import Decision, ReviewItem, Tenant
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_pipeline_flow import LEAD, LEAD_OBJECT, OWNERS, RULES, _variant, deliver, record_id, simulate

REASON_FIELDS = ("leadrelay_score", "leadrelay_tier", "leadrelay_rule", "leadrelay_reason")
# Salesforce: the managed package brings them; Pipedrive also gets its lifecycle field
CREATED = {"hubspot": 8, "salesforce": 0, "pipedrive": 9}


@pytest.fixture()
def installed(crm_env, app, crm_sandbox):
    """Install through OAuth, publish the rule set; returns (tenant id, sandbox account)."""
    def make(platform: str, rules: dict = RULES) -> tuple[int, dict]:
        return install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform, rules,
                                  f"Fields {platform}", OWNERS)
    return make


def settings_of(env, tenant_id: int) -> dict:
    with session_scope(env["DATABASE_URL"]) as s:
        return dict(s.get(Tenant, tenant_id).settings or {})


def route_decision(env) -> Decision:
    with session_scope(env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.kind == "route"))
        s.expunge(decision)
        return decision


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_a_new_lead_is_owned_with_its_reason_fields_set(installed, crm_env, crm_sandbox, platform):
    tenant_id, account = installed(platform)
    queued = Queue("maintenance", connection=Redis.from_url(crm_env["REDIS_URL"])).job_ids
    assert f"ensure-fields-{tenant_id}" in queued  # the install enqueued the job; run it here
    created = ensure_tenant_fields(tenant_id)
    assert len(created) == CREATED[platform]
    state = settings_of(crm_env, tenant_id)["leadrelay_fields"]
    assert state["ready"] is True and state["error"] is None
    assert ensure_tenant_fields(tenant_id) == []  # a second run (reconnect) creates nothing

    object_type, properties = LEAD[platform]
    lead_id = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                  "properties": properties}))
    deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], lead_id)

    decision = route_decision(crm_env)
    assert decision.outcome == "ben.owner@leadrelay.test" and "fields_error" not in decision.inputs
    record = build_adapter(tenant_id).get_record(LEAD_OBJECT[platform], lead_id)
    assert record.owner_id == decision.inputs["owner_id"]
    fields = {k: record.fields.get(k) for k in REASON_FIELDS}
    assert fields["leadrelay_rule"] == "Germany"
    assert fields["leadrelay_tier"] == decision.inputs["tier"]
    assert float(fields["leadrelay_score"]) == decision.inputs["score"]
    assert fields["leadrelay_reason"] == decision.reason[:255]
    assert fields["leadrelay_reason"].startswith("Rule 'Germany' (country DE)")


def test_salesforce_without_the_package_says_so_and_leads_are_still_routed(installed, crm_env, crm_sandbox):
    tenant_id, account = installed("salesforce")
    simulate(crm_sandbox, account, {"action": "uninstall_package"})  # an org without LeadRelay's fields
    assert ensure_tenant_fields(tenant_id) == []
    state = settings_of(crm_env, tenant_id)["leadrelay_fields"]
    assert state["ready"] is False and "install the LeadRelay package" in state["error"]

    object_type, properties = LEAD["salesforce"]
    lead_id = record_id("salesforce", simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                      "properties": properties}))
    browser(crm_sandbox).delete(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls",
                                timeout=10).raise_for_status()
    deliver(crm_env, tenant_id, "salesforce", "lead", lead_id)

    decision = route_decision(crm_env)
    assert decision.outcome == "ben.owner@leadrelay.test"
    # the install found the fields missing: the owner is written alone, with no refused call first (the org
    # answers a write naming LeadRelay's fields with INVALID_FIELD, which would have replaced this error)
    assert "install the LeadRelay package" in decision.inputs["fields_error"]
    calls = sandbox_calls(crm_sandbox, account)
    assert [c["status"] for c in calls if c["status"] >= 400] == []
    assert [(c["path"].rsplit("/", 1)[-1], c["status"]) for c in calls if c["method"] == "PATCH"] == [
        ("sobjects", 200)]  # the owners' one sObject Collections update, which the org accepted
    record = build_adapter(tenant_id).get_record("lead", lead_id)
    assert record.owner_id == decision.inputs["owner_id"]  # the routing stands
    assert "leadrelay_rule" not in record.fields


def test_salesforce_on_an_earlier_package_version_keeps_every_field_it_has(installed, crm_env, crm_sandbox):
    """An org still on package 1.0 (before the enrichment fields): its reason, score, tier and rule are written as
    before, the fields it lacks are never sent (no refusal, no owner-alone fallback), until its admin upgrades."""
    tenant_id, account = installed("salesforce")
    simulate(crm_sandbox, account, {"action": "install_package", "version": "1.0"})
    assert ensure_tenant_fields(tenant_id) == []
    state = settings_of(crm_env, tenant_id)["leadrelay_fields"]
    assert state["ready"] is True and state["unavailable"] == ["leadrelay_email_type", "leadrelay_enriched",
                                                               "leadrelay_timezone"]
    object_type, properties = LEAD["salesforce"]
    lead_id = record_id("salesforce", simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                      "properties": properties}))
    browser(crm_sandbox).delete(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls",
                                timeout=10).raise_for_status()
    deliver(crm_env, tenant_id, "salesforce", "lead", lead_id)
    decision = route_decision(crm_env)
    assert decision.outcome == "ben.owner@leadrelay.test" and "fields_error" not in decision.inputs
    assert [c for c in sandbox_calls(crm_sandbox, account) if c["status"] >= 400] == []
    record = build_adapter(tenant_id).get_record("lead", lead_id)
    assert record.fields["leadrelay_rule"] == "Germany" and record.fields["leadrelay_reason"] == decision.reason[:255]
    assert "leadrelay_timezone" not in record.fields  # the org has no such field
    # the admin upgrades; a reconnect's check finds the fields, and they are written from then on
    simulate(crm_sandbox, account, {"action": "install_package", "version": "1.1"})
    ensure_tenant_fields(tenant_id)
    assert "unavailable" not in settings_of(crm_env, tenant_id)["leadrelay_fields"]


def sandbox_calls(server, account: dict) -> list[dict]:
    """The API calls the sandbox account received since its call log was last cleared."""
    resp = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/calls", timeout=10)
    resp.raise_for_status()
    return resp.json()["calls"]


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_a_possible_duplicate_in_review_points_at_the_other_record(installed, crm_env, crm_sandbox, platform):
    # every pair goes to review, none is merged: the same person written differently is the unsure case here
    tenant_id, account = installed(platform, {**RULES, "dedup": {"auto_merge": 1.0, "review": 0.5}})
    ensure_tenant_fields(tenant_id)
    object_type, properties = LEAD[platform]
    first = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                "properties": properties}))
    deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], first)
    second = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                 "properties": _variant(platform, dict(properties))}))
    deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], second)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        review = s.scalar(select(ReviewItem).where(ReviewItem.kind == "dedup"))
        assert (review.object_id, review.other_object_id) == (second, first)
    record = build_adapter(tenant_id).get_record(LEAD_OBJECT[platform], second)
    assert record.fields["leadrelay_duplicate_of"] == first
