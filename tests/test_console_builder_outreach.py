"""The rule builder's `first_response` and `handoff` sections: the document round-trips (draft → YAML → parse → the
same RuleSet), the loader's problems come back with the field's path, and the template preview renders the most
recent routed lead from the database (a labelled sample before the first). Flask test client, FakeCRMAdapter."""
from __future__ import annotations

import copy
import json
import re
from html import unescape

from integration.models import Decision, RuleSetVersion
from integration.records import CRMUser
from integration.rules import validate_rules
from marketplace.console_builder import sms_segments
from tests.test_console_pages import add, login, world  # noqa: F401 (world: a fixture)

DOC = {
    "version": 1,
    "owners": [{"email": "alice@acme.test", "name": "Alice Adams", "booking_link": "https://cal.acme.test/alice"}],
    "fallback": {"owner": "alice@acme.test"},
    "first_response": {
        "hot": {"channels": ["email", "sms"], "template": "welcome", "consent": "any"},
        "warm": {"channels": ["email"], "template": "welcome"},
        "sender": "smtp", "basis": "legitimate interest", "quiet_hours": "21:00-08:00", "daily_cap": 200,
        "default_language": "en", "reply_to": "owner",
        "templates": {"welcome": {
            "en": {"subject": "Thanks, {first_name}", "body": "Hi {first_name},\n{owner_name} will call you.\n"
                   "Book: {booking_link}\n{company}", "sms": "Hi {first_name}, {owner_first_name} here."},
            "de": {"subject": "Danke, {first_name}", "body": "Hallo {first_name}", "sms": "Hallo {first_name}"}}},
    },
    "handoff": [
        {"name": "Pricing", "trigger": "reply", "when": {"phrases": ["price", "how much"]},
         "actions": ["notify_owner", "pause_cadence"], "within": "15m", "say": "asked about pricing"},
        {"name": "Opt-out", "trigger": "reply", "when": {"opt_out": True}, "actions": ["do_not_contact",
                                                                                        "stop_cadence"]},
        {"name": "Referrals", "trigger": "new_lead", "when": {"source": ["Referral"], "score_gte": 80, "any": True},
         "actions": ["skip_automation"]},
    ],
}


def test_both_sections_round_trip_through_draft_yaml_and_parse(app, env, world):  # noqa: F811
    alice, t = login(app, world, "alice"), world["T"]
    saved = alice.post(f"/console/tenants/{t}/rules/draft", json={"body": DOC})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    page = alice.get(f"/console/tenants/{t}/rules/builder").get_data(as_text=True)
    embedded = json.loads(unescape(re.search(r'id="rules-doc">(.*?)</script>', page, re.S).group(1)))
    assert embedded == DOC
    text = alice.post(f"/console/tenants/{t}/rules/yaml", json={"body": embedded}).get_json()["text"]
    parsed = alice.post(f"/console/tenants/{t}/rules/parse", json={"text": text}).get_json()
    assert parsed["ok"], parsed
    assert validate_rules(parsed["body"]) == validate_rules(DOC)
    assert [r.name for r in validate_rules(parsed["body"]).handoff] == ["Pricing", "Opt-out", "Referrals"]


def test_loader_problems_come_back_at_the_fields_path(app, env, world):  # noqa: F811
    alice, t = login(app, world, "alice"), world["T"]
    bad = copy.deepcopy(DOC)
    bad["first_response"]["hot"]["template"] = "missing"
    issues = alice.post(f"/console/tenants/{t}/rules/validate", json={"body": bad}).get_json()["issues"]
    assert any(i["path"].startswith("first_response") and "no template" in i["message"] for i in issues), issues
    bad = copy.deepcopy(DOC)
    bad["handoff"][2]["when"]["phrases"] = ["price"]  # a reply's condition on a new-lead rule
    issues = alice.post(f"/console/tenants/{t}/rules/validate", json={"body": bad}).get_json()["issues"]
    assert any(i["path"].startswith("handoff[2]") and "trigger: reply" in i["message"] for i in issues), issues
    bad = copy.deepcopy(DOC)
    bad["first_response"]["templates"]["welcome"]["en"]["body"] = "Hi {firstname}"
    issues = alice.post(f"/console/tenants/{t}/rules/validate", json={"body": bad}).get_json()["issues"]
    assert any(i["path"].startswith("first_response.templates") and "not a merge field" in i["message"]
               for i in issues), issues
    # and a refused draft is not saved
    assert alice.post(f"/console/tenants/{t}/rules/draft", json={"body": bad}).status_code == 422


def test_preview_labels_a_sample_lead_before_any_lead(app, env, world):  # noqa: F811
    t = world["T"]
    add(env, RuleSetVersion(tenant_id=t, version=1, status="published", body=DOC))
    html = login(app, world, "victor").get(f"/console/tenants/{t}/rules/templates").get_data(as_text=True)
    assert "data-sample-lead" in html and "Sample lead" in html and "data-real-lead" not in html
    assert "Thanks, Sam" in html and "Alice Adams will call you." in html
    assert "https://cal.acme.test/alice" in html


def test_preview_renders_the_most_recent_routed_lead(app, env, world):  # noqa: F811
    t = world["T"]
    world["fake"].users = [CRMUser(id="60000002", email="alice@acme.test", name="Alice Adams")]
    lead = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.test", "language": "de"}
    older = {"first_name": "Old", "last_name": "Lead", "company": "Old Co", "email": "old@x.test"}
    add(env, RuleSetVersion(tenant_id=t, version=1, status="published", body=DOC),
        Decision(tenant_id=t, idempotency_key="route:contact:1", kind="route", object_type="contact", object_id="1",
                 outcome="alice@acme.test", reason="r", inputs={"lead": older, "owner_id": "60000002"}),
        Decision(tenant_id=t, idempotency_key="route:contact:2", kind="route", object_type="contact", object_id="2",
                 outcome="alice@acme.test", reason="r", inputs={"lead": lead, "owner_id": "60000002"}))
    html = login(app, world, "alice").get(f"/console/tenants/{t}/rules/templates").get_data(as_text=True)
    assert "data-real-lead" in html and "Sample lead" not in html and "Ada Lovelace" in html
    assert "Old Co" not in html
    assert "Thanks, Ada" in html and "Danke, Ada" in html and "Hi Ada, Alice here." in html
    # Ada has no company: the fallback is named
    assert re.search(r"data-fallbacks>No value for company", html)


def test_sms_segments_follow_the_gsm_and_ucs2_limits():
    assert sms_segments("a" * 160)["segments"] == 1 and sms_segments("a" * 161)["segments"] == 2
    assert sms_segments("a" * 306)["segments"] == 2 and sms_segments("a" * 307)["segments"] == 3
    assert sms_segments("€" * 80)["segments"] == 1 and sms_segments("€" * 81)["segments"] == 2  # two septets each
    assert sms_segments("ł" * 70)["segments"] == 1 and sms_segments("ł" * 71)["segments"] == 2
    assert sms_segments("")["segments"] == 0
