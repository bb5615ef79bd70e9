"""Test a lead in the console: the pipeline's own answer (owner, rule taken and not taken, skips, SLA), explained."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from redis import Redis

from integration.db import session_scope
from integration.models import Decision, RuleSetVersion
from integration.pipeline.flow import process_records
from integration.records import Company, CRMUser
from integration.routing.redis_state import RedisPoolState
from tests.console_helpers import add_members, sign_in
from tests.fakes import FakeFollowUpCRM, tenant_with_rules

ANA, BEN, CY = "ana@acme.test", "ben@acme.test", "cy@acme.test"
MONDAY_10_BERLIN = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)
RULES = {
    "version": 1, "timezone": "Europe/Berlin",
    "owners": [{"email": ANA}, {"email": BEN, "out_of_office": ["2026-03-01..2026-03-15"]}, {"email": CY}],
    "pools": {"team": {"strategy": "round_robin",
                       "members": [{"owner": BEN}, {"owner": ANA, "capacity": 2}, {"owner": CY}]}},
    "routing": [
        {"name": "Existing account owner", "when": {"account_owner": True}, "assign": "account_owner"},
        {"name": "DACH", "when": {"country": ["DE", "AT"]}, "assign": {"owner": ANA}},
        {"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}},
    ],
    "fallback": {"review": True},
    "scoring": {"rules": [{"when": {"has_phone": True}, "points": 40}], "tiers": {"hot": 60, "warm": 30}},
    "sla": {"warm": {"first_touch": "4h", "business_hours": True}, "nurture": {"first_touch": "2d"}},
}


@pytest.fixture()
def crm(app, env, wire_adapters, monkeypatch):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser("u1", ANA, "Ana Alves"), CRMUser("u2", BEN, "Ben Brandt"), CRMUser("u3", CY, "Cy Chen")]
    fake.companies["initech.example"] = Company("co1", "Initech", "initech.example", owner_id="u3")
    wire_adapters(lambda _tenant_id: fake)
    tenant_with_rules(env["DATABASE_URL"], fake, RULES)
    with session_scope(env["DATABASE_URL"]) as s:
        fake.members = add_members(s, fake.tenant_id, {"alice": "admin", "victor": "viewer"})
    monkeypatch.setattr("marketplace.console_rules.preview_now", lambda: MONDAY_10_BERLIN)
    return fake


def csrf_client(app, user_id: int, tenant_id: int):
    """A signed-in client with CSRF on, and the token a console page gives it (as the builder's JS reads it)."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = sign_in(app, user_id)
    page = client.get(f"/console/tenants/{tenant_id}/rules").get_data(as_text=True)
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_lead_is_routed_as_the_pipeline_would_with_every_rule_not_taken_and_the_pool_skips(app, env, crm):
    tenant = crm.tenant_id
    state = RedisPoolState(Redis.from_url(env["REDIS_URL"]), tenant)
    state.assign(ANA), state.assign(ANA)  # the live rotation: Ana holds 2 open leads, her capacity
    client, token = csrf_client(app, crm.members["victor"], tenant)  # a viewer may try leads: nothing is written
    lead = {"first_name": "ada", "last_name": "LOVELACE", "email": "ada@analytical.example", "company": "Engines",
            "country": "United States", "phone": "", "employees": "12"}
    assert client.post(f"/console/tenants/{tenant}/rules/test", json={"lead": lead}).status_code == 400  # no token
    resp = client.post(f"/console/tenants/{tenant}/rules/test", json={"lead": lead}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert (answer["ok"], answer["owner"], answer["owner_name"]) == (True, CY, "Cy Chen")
    assert answer["steps"] == [
        {"index": 0, "rule": "Existing account owner", "matched": False, "why": "no active account owner"},
        {"index": 1, "rule": "DACH", "matched": False, "why": "country is US, not one of DE, AT"},
        {"index": 2, "rule": "Everyone", "matched": True, "why": "has email"}]
    assert answer["target"] == {"kind": "pool", "name": "team", "chosen": CY, "skipped": [
        {"owner": BEN, "name": "Ben Brandt", "why": "out of office (2026-03-01..2026-03-15)"},
        {"owner": ANA, "name": "Ana Alves", "why": "at capacity 2/2"}]}
    assert answer["reason"] == "Rule 'Everyone' (has email) → pool team → cy@acme.test, round-robin, 1 open"
    assert (answer["score"], answer["tier"], answer["fallback"]) == (0, "nurture", False)
    assert answer["sla"] == {"tier": "nurture", "due": "Wed 11 Mar 2026, 10:00 (Europe/Berlin)",
                             "policy": "first touch within 2 days, on the clock, nights and weekends too"}
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.query(Decision).count() == 0  # nothing was decided for real
    assert state.open_count(CY) == 0  # and the live rotation did not move
    assert not any(crm.calls[name] for name in ("set_owner", "set_owners", "create_task", "create_tasks"))


def test_the_account_owner_comes_from_the_crm_and_the_working_draft_is_the_default(app, env, crm):
    tenant = crm.tenant_id
    with session_scope(env["DATABASE_URL"]) as s:  # a draft newer than the live version: the one being edited
        draft = {**RULES, "routing": [RULES["routing"][1], {**RULES["routing"][0], "name": "Account owner"}]}
        s.add(RuleSetVersion(tenant_id=tenant, version=2, status="draft", body=draft))
    client, token = csrf_client(app, crm.members["alice"], tenant)
    lead = {"first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.example", "phone": "+1 415 555 0100"}
    answer = client.post(f"/console/tenants/{tenant}/rules/test", json={"lead": lead},
                         headers={"X-CSRFToken": token}).get_json()
    assert [(s["rule"], s["matched"]) for s in answer["steps"]] == [("DACH", False), ("Account owner", True)]
    assert answer["steps"][1]["why"] == "account owned by cy@acme.test"
    assert (answer["owner"], answer["target"]["kind"], answer["tier"]) == (CY, "account_owner", "warm")
    # a warm lead counts its 4 hours in Cy's working hours (none set: any time), from 10:00 Berlin
    assert answer["sla"]["due"] == "Mon 9 Mar 2026, 14:00 (Europe/Berlin)"
    assert crm.calls["find_company"] == 1
    # the body sent wins over the stored versions; the lead from Germany takes the DACH rule there too
    answer = client.post(f"/console/tenants/{tenant}/rules/test", headers={"X-CSRFToken": token},
                         json={"body": RULES, "lead": {**lead, "country": "Deutschland"}}).get_json()
    assert [s["rule"] for s in answer["steps"]] == ["Existing account owner"]  # the live order: account first


def test_invalid_rules_and_bad_leads_are_refused_with_a_message(app, env, crm):
    tenant = crm.tenant_id
    client, token = csrf_client(app, crm.members["alice"], tenant)
    post = lambda payload: client.post(f"/console/tenants/{tenant}/rules/test", json=payload,  # noqa: E731
                                       headers={"X-CSRFToken": token})
    bad_rules = {"version": 1, "routing": [{"name": "Bay", "when": {"postcode": ["9a1"]}, "assign": {"review": True}}]}
    resp = post({"body": bad_rules, "lead": {"email": "a@b.example"}})
    assert resp.status_code == 422
    assert resp.get_json() == {"ok": False, "issues": [
        {"path": "routing[0].when.postcode", "message": '"9a1" is not a postcode or range'}]}
    assert post({"body": "version: [", "lead": {"email": "a@b.example"}}).status_code == 422  # YAML text too
    for lead, words in (("Ada", "must be an object"), ({"email": ["a@b.example"]}, "must be a text or a number"),
                        ({"employees": "lots"}, "employees must be a whole number"),
                        ({"company": "x" * 1000}, "longer than 300")):
        resp = post({"lead": lead})
        assert resp.status_code == 400 and words in resp.get_json()["message"], (lead, resp.get_json())
    # a lead the pipeline cannot use goes to review, said as the pipeline says it
    answer = post({"lead": {"first_name": "asdf", "last_name": "asdf", "email": "a@b.example"}}).get_json()
    assert answer["owner"] is None and answer["reason"].startswith("Unusable lead:")
    assert answer["target"]["kind"] == "review"


def test_recent_leads_are_the_routed_ones_by_name_and_the_audit_row_keeps_the_path(app, env, crm):
    state = RedisPoolState(Redis.from_url(env["REDIS_URL"]), crm.tenant_id)
    state.assign(ANA), state.assign(ANA)  # Ana is full: the pool passes her over
    for n, (first, last, company) in enumerate((("Ada", "Lovelace", "Engines"), ("Grace", "Hopper", "Navy")), 1):
        crm.put("contact", f"c{n}", email=f"{first}@{company}.example".lower(), first_name=first, last_name=last,
                company=company, country="US")
    with session_scope(env["DATABASE_URL"]) as s:
        process_records(s, crm.tenant_id, crm, "contact", [crm.records[("contact", i)] for i in ("c1", "c2")], [])
        grace = s.query(Decision).filter_by(object_id="c2", kind="route").one().inputs
    assert grace["path"] == [
        {"index": 0, "rule": "Existing account owner", "matched": False, "why": "no active account owner"},
        {"index": 1, "rule": "DACH", "matched": False, "why": "country is US, not one of DE, AT"},
        {"index": 2, "rule": "Everyone", "matched": True, "why": "has email"}]
    assert grace["skipped"] == [{"owner": ANA, "why": "at capacity 2/2"}]  # Ben had c1; Cy gets Grace
    viewer = sign_in(app, crm.members["victor"])
    leads = viewer.get(f"/console/tenants/{crm.tenant_id}/rules/recent-leads").get_json()["leads"]
    assert [lead["label"] for lead in leads] == ["Grace Hopper · Navy", "Ada Lovelace · Engines"]  # newest first
    assert leads[0]["id"] == "c2" and leads[0]["fields"] == {
        "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example", "company": "Navy",
        "country": "US"}
