"""`email_type` and `timezone` conditions: enrichment's values in routing and scoring, why a rule did not match,
and the loader refusing values that can never be true."""
from __future__ import annotations

import datetime as dt

import pytest

from integration.enrich import enrich
from integration.routing.normalize import Lead, normalize_lead
from integration.routing.router import Router, Step
from integration.routing.score import Scorer
from integration.routing.state import InMemoryPoolState
from integration.rules import RulesError, load_rules, validate_rules

AT = dt.datetime(2026, 12, 28, 20, 0, tzinfo=dt.UTC)
OWNERS = [{"email": "biz@acme.test"}, {"email": "central@acme.test"}, {"email": "rest@acme.test"}]
ROUTING = [
    {"name": "Business email", "when": {"email_type": ["business"]}, "assign": {"owner": "biz@acme.test"}},
    {"name": "Central time", "when": {"timezone": ["America/Chicago"]}, "assign": {"owner": "central@acme.test"}},
]


def router(routing=ROUTING) -> Router:
    rules = validate_rules({"version": 1, "owners": OWNERS, "routing": routing,
                            "fallback": {"owner": "rest@acme.test"}})
    return Router(rules, InMemoryPoolState({}))


def enriched(raw: dict) -> Lead:
    """As the pipeline does it: enrich the raw fields, then normalize them with what was found."""
    found = enrich(raw)
    return normalize_lead({**raw, **found.filled, "email_type": found.email_type, "timezone": found.timezone}).lead


def test_a_business_email_matches_email_type_business():
    route = router().route_lead(enriched({"id": "1", "email": "ann@acme.com"}), at=AT, explain=True)
    assert route.owner == "biz@acme.test" and route.rule == "Business email"
    assert route.reason.startswith("Rule 'Business email' (business email)")


def test_a_free_email_does_not_and_the_trace_says_why_then_the_dallas_zip_routes_it():
    lead = enriched({"id": "2", "email": "ann@gmail.com", "postcode": "75201", "country": "US"})
    assert (lead.email_type, lead.timezone, lead.city) == ("free", "America/Chicago", "Dallas")
    route = router().route_lead(lead, at=AT, explain=True)
    assert route.owner == "central@acme.test"
    assert route.path == (Step(0, "Business email", False, "email type is free (gmail.com), not one of business"),
                          Step(1, "Central time", True, "time zone America/Chicago"))


def test_a_lead_enrichment_could_not_place_reads_as_unknown():
    lead = enriched({"id": "3", "phone": "+1 800 555 0199"})  # toll-free: no email, no single zone
    route = router().route_lead(lead, at=AT, explain=True)
    assert route.owner == "rest@acme.test"
    assert [s.why for s in route.path] == ["email type unknown (no email; wanted business)",
                                           "time zone unknown (wanted America/Chicago)"]
    # an email the pipeline did not enrich (a simulation fed raw fields) is not taken for a business
    plain = normalize_lead({"id": "4", "email": "ann@acme.com"}).lead
    assert plain.email_type is None
    assert router().route_lead(plain, at=AT, explain=True).path[0].why == (
        "email type unknown (not enriched; wanted business)")


def test_a_phone_in_central_time_routes_and_another_zone_says_which_it_was():
    assert router().route_lead(enriched({"id": "5", "phone": "+1 214 555 0123"}), at=AT).owner == "central@acme.test"
    route = router().route_lead(enriched({"id": "6", "phone": "+1 212 555 0142"}), at=AT, explain=True)
    assert route.path[1].why == "time zone is America/New_York, not one of America/Chicago"
    assert route.owner == "rest@acme.test"


def test_several_values_and_any():
    rules = [{"name": "Not a person", "when": {"email_type": ["disposable", "role"]}, "assign": {"owner":
                                                                                                 "rest@acme.test"}},
             {"name": "Americas", "when": {"any": True, "timezone": ["America/Chicago", "America/New_York"],
                                           "email_type": "business"}, "assign": {"owner": "central@acme.test"}}]
    assert router(rules).route_lead(enriched({"id": "7", "email": "info@acme.com"}), at=AT).rule == "Not a person"
    assert router(rules).route_lead(enriched({"id": "8", "email": "x@mailinator.com"}), at=AT).rule == "Not a person"
    assert router(rules).route_lead(enriched({"id": "9", "email": "a@gmail.com", "phone": "+12125550142"}),
                                    at=AT).rule == "Americas"


def test_scoring_reads_them_too():
    rules = validate_rules({"version": 1, "scoring": {"rules": [
        {"when": {"email_type": "business"}, "points": 30}, {"when": {"email_type": "disposable"}, "points": -30},
        {"when": {"timezone": "America/Chicago"}, "points": 10}]}})
    scorer = Scorer(rules.scoring)
    assert scorer.score_lead(enriched({"id": "a", "email": "ann@acme.com", "postcode": "75201",
                                       "country": "US"})).score == 40
    assert scorer.score_lead(enriched({"id": "b", "email": "ann@mailinator.com"})).score == 0


def _loaded(when: dict) -> str:
    with pytest.raises(RulesError) as info:
        load_rules({"version": 1, "owners": OWNERS, "routing": [
            {"name": "Ok", "when": {"country": "US"}, "assign": {"owner": "biz@acme.test"}},
            {"name": "Bad", "when": when, "assign": {"owner": "biz@acme.test"}}]})
    return str(info.value)


def test_the_loader_refuses_values_that_are_no_email_type_or_time_zone_with_their_path():
    assert _loaded({"email_type": ["business", "corporate"]}) == (
        'routing[1].when.email_type[1]: "corporate" is not an email type (business, free, disposable or role)')
    assert _loaded({"timezone": "Central"}) == (
        'routing[1].when.timezone[0]: "Central" is not an IANA time zone (e.g. America/Los_Angeles)')
    assert _loaded({"timezone": []}) == (
        "routing[1].when.timezone: an empty list can never match; remove the condition instead")


def test_the_loader_keeps_them_in_standard_form():
    rules = load_rules({"version": 1, "owners": OWNERS, "routing": [
        {"name": "Biz", "when": {"email_type": "Business", "timezone": "America/Chicago"},
         "assign": {"owner": "biz@acme.test"}}]})
    assert rules.routing[0].when.conditions() == {"email_type": ["business"], "timezone": ["America/Chicago"]}


# --- the pipeline: enriched before routing, what it found written with the owner in the same call -------------
CENTRAL = {"version": 1, "timezone": "UTC", "owners": [{"email": "ana.owner@leadrelay.test"},
                                                       {"email": "ben.owner@leadrelay.test"}],
           "routing": [{"name": "Central, free mail", "when": {"timezone": "America/Chicago", "email_type": "free"},
                        "assign": {"owner": "ben.owner@leadrelay.test"}}],
           "fallback": {"owner": "ana.owner@leadrelay.test"}}
DALLAS = {  # a Dallas lead typed with a ZIP and a state but no city; Pipedrive persons keep no address at all
    "hubspot": ("contacts", {"firstname": "Dale", "lastname": "Rivers", "email": "dale.rivers@gmail.com",
                             "phone": "+1 214 555 0123", "zip": "75201", "state": "Texas"}),
    "salesforce": ("Lead", {"FirstName": "Dale", "LastName": "Rivers", "Email": "dale.rivers@gmail.com",
                            "Phone": "+1 214 555 0123", "PostalCode": "75201", "State": "Texas",
                            "Company": "Rivers Landscaping"}),
    "pipedrive": ("persons", {"name": "Dale Rivers", "emails": [{"value": "dale.rivers@gmail.com", "primary": True,
                                                                 "label": "work"}],
                              "phones": [{"value": "+1 214 555 0123", "primary": True, "label": "work"}]}),
}


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_the_pipeline_routes_on_enrichment_and_writes_it_back_with_the_owner(crm_env, app, crm_sandbox, platform):
    from sqlalchemy import select

    from adapters.factory import build_adapter
    from adapters.subscriptions import ensure_tenant_fields
    from integration.db import session_scope
    from integration.models import Decision
    from tests.crm_helpers import browser, install_with_rules
    from tests.e2e.test_pipeline_flow import LEAD_OBJECT, OWNERS, deliver, record_id, simulate

    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform,
                                            CENTRAL, f"Enrich {platform}", OWNERS)
    ensure_tenant_fields(tenant_id)
    object_type, properties = DALLAS[platform]
    lead_id = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                  "properties": properties}))
    calls_url = f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls"
    browser(crm_sandbox).delete(calls_url, timeout=10).raise_for_status()
    deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], lead_id)

    with session_scope(crm_env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.kind == "route"))
        assert decision.outcome == "ben.owner@leadrelay.test", decision.reason
        assert decision.reason.startswith("Rule 'Central, free mail' (free email, time zone America/Chicago)")
        assert (decision.inputs["lead"]["timezone"], decision.inputs["lead"]["email_type"]) == (
            "America/Chicago", "free")
        assert "fields_error" not in decision.inputs
    record = build_adapter(tenant_id).get_record(LEAD_OBJECT[platform], lead_id)
    assert record.owner_id == decision.inputs["owner_id"]
    assert record.fields["leadrelay_timezone"] == "America/Chicago"
    assert record.fields["leadrelay_email_type"] == "free"
    if platform == "pipedrive":  # the phone told the country and the zone; a person has no address to fill
        assert record.fields["leadrelay_enriched"] == "country, time zone from phone +1 214…; email type from " \
                                                      "email domain"
    else:
        assert record.fields["leadrelay_enriched"] == ("country from phone +1 214…; city, county, time zone from "
                                                       "ZIP 75201; email type from email domain")
        assert (record.fields["city"], record.fields["country"]) == ("Dallas", "US")
        assert record.fields["state"] == "Texas"  # typed by the lead: never overwritten
    # the owner, LeadRelay's fields and what enrichment filled went out in one write
    calls = browser(crm_sandbox).get(calls_url, timeout=10).json()["calls"]
    writes = [c for c in calls if c["method"] in ("PATCH", "PUT") or c["method"] == "POST" and not any(
        read in c["path"] for read in ("search", "query", "batch/read", "tasks", "activities", "Task"))]
    assert len(writes) == 1, [(c["method"], c["path"]) for c in writes]
