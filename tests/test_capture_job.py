"""The capture job (integration.intake.submissions) against the sandbox's HubSpot: a sure match fills blank fields
only and follows the rule set's returning-lead policy; an unsure one creates the record marked as a possible
duplicate, for review; a permanent refusal fails the submission with its reason and an audit decision; a
re-delivered job does nothing; the note carries what the record has no field for."""
from __future__ import annotations

import uuid

import pytest
import yaml
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.enrich import Enrichment
from integration.intake.capture import for_create, lock_keys, note_text
from integration.intake.submissions import PersonNotSearchableYet, enqueue_submission, process_submission
from integration.models import Decision, ReviewItem
from integration.models.capture import FAILED, REVIEW, UPDATED, IntakeSubmission
from integration.rules import RulesError, load_rules
from tests.crm_helpers import browser, install_with_rules
from tests.workers import BurstWorker

OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner"},
          {"email": "ben.owner@leadrelay.test", "name": "Ben Owner"}]


def rules(on_return: str = "task") -> dict:
    return {"version": 1, "owners": [{"email": o["email"]} for o in OWNERS],
            "pools": {"team": {"strategy": "round_robin", "members": [{"owner": o["email"]} for o in OWNERS]}},
            "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
            "fallback": {"review": True}, "returning": {"on_return": on_return}}


@pytest.fixture()
def hubspot(crm_env, app, crm_sandbox):
    def make(on_return: str = "task") -> tuple[int, dict]:
        return install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "hubspot",
                                  rules(on_return), "Capture unit", OWNERS)
    return make


def contact(server, account: dict, properties: dict) -> str:
    resp = browser(server).post(f"{server.url}/_sandbox/accounts/{account['account_id']}/simulate",
                                json={"action": "create", "object_type": "contacts", "properties": properties})
    resp.raise_for_status()
    return str(resp.json()["id"])


def submit(env, tenant_id: int, fields: dict, extra: dict | None = None) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        sub = IntakeSubmission(tenant_id=tenant_id, public_id=uuid.uuid4().hex, fields=fields, extra=extra or {})
        s.add(sub)
        s.flush()
        return sub.id


def run(env, tenant_id: int, sub_id: int) -> IntakeSubmission:
    enqueue_submission(tenant_id, sub_id)
    BurstWorker(["intake"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)
    with session_scope(env["DATABASE_URL"]) as s:
        return s.get(IntakeSubmission, sub_id)


def capture_decision(env, sub_id: int) -> Decision:
    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(select(Decision).where(Decision.idempotency_key == f"capture:{sub_id}"))


def test_a_sure_match_fills_blank_fields_only_and_tasks_its_owner(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot()
    from adapters.factory import build_adapter

    adapter = build_adapter(tenant_id)
    ben = next(u for u in adapter.list_users() if u.email == "ben.owner@leadrelay.test")
    rid = contact(crm_sandbox, account, {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@engine.example",
                                         "company": "Analytical Engines", "hubspot_owner_id": ben.id})
    sub = run(crm_env, tenant_id, submit(crm_env, tenant_id, {
        "email": "ADA@Engine.example", "first_name": "Ada", "last_name": "Lovelace", "company": "Babbage & Co",
        "city": "London", "message": "Back for the second engine"}))
    assert (sub.status, sub.record_id) == (UPDATED, rid), sub.error
    record = adapter.get_record("contact", rid)
    assert record.fields["company"] == "Analytical Engines"  # a value is never overwritten
    assert record.fields["city"] == "London"  # a blank is filled
    decision = capture_decision(crm_env, sub.id)
    assert decision.reason == "Came back: matched Ada Lovelace (same email): note and task for Ben Owner"
    assert decision.inputs["filled"] == ["city"]
    task = adapter.get_task(decision.inputs["task_id"])
    assert (task.owner_id, task.done) == (ben.id, False)

    calls = len(browser(crm_sandbox).get(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls")
                .json()["calls"])
    assert process_submission(tenant_id, sub.id) == UPDATED  # re-delivered: nothing more
    after = browser(crm_sandbox).get(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls").json()
    assert len(after["calls"]) == calls


def test_route_again_when_the_returning_record_has_no_owner(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot("route_again_if_unowned")
    rid = contact(crm_sandbox, account, {"firstname": "Alan", "lastname": "Turing", "email": "alan@bletchley.example"})
    sub = run(crm_env, tenant_id, submit(crm_env, tenant_id, {"email": "alan@bletchley.example",
                                                              "first_name": "Alan", "last_name": "Turing"}))
    assert (sub.status, sub.record_id) == (UPDATED, rid), sub.error
    with session_scope(crm_env["DATABASE_URL"]) as s:
        route = s.scalar(select(Decision).where(Decision.kind == "route", Decision.object_id == rid))
    assert route.idempotency_key == f"route:contact:{rid}:returned:{sub.id}"
    assert route.outcome.endswith("@leadrelay.test")
    from adapters.factory import build_adapter

    assert build_adapter(tenant_id).get_record("contact", rid).owner_id == route.inputs["owner_id"]
    assert capture_decision(crm_env, sub.id).reason.startswith(
        "Came back: matched Alan Turing (same email): note; nobody active owned it, routed again to ")


def test_with_the_task_policy_an_unowned_returning_record_goes_to_review(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot("task")
    rid = contact(crm_sandbox, account, {"firstname": "Alan", "lastname": "Turing", "email": "alan@bletchley.example"})
    sub = run(crm_env, tenant_id, submit(crm_env, tenant_id, {"email": "alan@bletchley.example",
                                                              "first_name": "Alan", "last_name": "Turing"}))
    assert sub.status == UPDATED
    with session_scope(crm_env["DATABASE_URL"]) as s:
        [item] = s.scalars(select(ReviewItem).where(ReviewItem.object_id == rid)).all()
        assert s.scalar(select(Decision).where(Decision.kind == "route")) is None
    assert item.reason == "Alan Turing came back through the web form and has no active owner"


def test_an_unsure_match_creates_the_record_marked_for_review(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot()
    other = contact(crm_sandbox, account, {"firstname": "Grace", "lastname": "Hopper", "phone": "+49 30 1234567",
                                           "email": "grace.hopper@navy.example", "company": "Navy"})
    sub = run(crm_env, tenant_id, submit(crm_env, tenant_id, {
        "email": "g.hopper@navy.example", "first_name": "Grace", "last_name": "Hopper", "phone": "+49 30 1234567",
        "company": "Navy"}))
    assert sub.status == REVIEW, sub.error
    assert sub.record_id != other
    with session_scope(crm_env["DATABASE_URL"]) as s:
        [item] = s.scalars(select(ReviewItem).where(ReviewItem.kind == "dedup")).all()
        route = s.scalar(select(Decision).where(Decision.kind == "route", Decision.object_id == sub.record_id))
    assert (item.object_id, item.other_object_id) == (sub.record_id, other)
    assert route.outcome.endswith("@leadrelay.test")  # still routed, as the pipeline routes an unsure duplicate
    assert "possible duplicate of Grace Hopper, sent to review" in capture_decision(crm_env, sub.id).reason


def test_a_person_the_search_does_not_show_yet_is_retried_then_updated(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot()
    # a contact made in HubSpot a moment ago, whose webhook has not reached LeadRelay: the index does not know
    # it and HubSpot's search does not show it yet, but HubSpot refuses a second contact with its email (409)
    crm_sandbox.sandbox.config.update({"search_lag_ms": 60_000})
    rid = contact(crm_sandbox, account, {"firstname": "Linus", "lastname": "Torvalds", "email": "linus@kernel.example"})
    sub_id = submit(crm_env, tenant_id, {"email": "linus@kernel.example", "first_name": "Linus",
                                         "last_name": "Torvalds"})
    with pytest.raises(PersonNotSearchableYet):
        process_submission(tenant_id, sub_id)
    assert capture_decision(crm_env, sub_id) is None  # nothing kept: the retry starts over
    crm_sandbox.sandbox.config.update({"search_lag_ms": 0})  # the lag has passed when RQ retries
    assert process_submission(tenant_id, sub_id) == UPDATED
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert s.get(IntakeSubmission, sub_id).record_id == rid


def test_a_permanent_refusal_fails_the_submission_with_its_reason(crm_env, app, crm_sandbox):
    # a Salesforce org whose duplicate rule blocks a second Lead with the same last name and company, for a person
    # LeadRelay's scorer tells apart (another first name, another email): the org refuses, and says so every time
    crm_sandbox.sandbox.config.update({"duplicate_rules": [
        {"sobject": "Lead", "on_create": "block", "on_edit": "report", "match": ["LastName+Company"]}]})
    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "salesforce",
                                            rules(), "Capture refusal", OWNERS)
    resp = browser(crm_sandbox).post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate", json={
        "action": "create", "object_type": "Lead",
        "properties": {"FirstName": "Jane", "LastName": "Smith", "Company": "Acme", "Email": "jane@acme.example"}})
    resp.raise_for_status()
    sub = run(crm_env, tenant_id, submit(crm_env, tenant_id, {
        "email": "john.smith@elsewhere.example", "first_name": "John", "last_name": "Smith", "company": "Acme"}))
    assert sub.status == FAILED, sub.error
    assert sub.error.startswith("the CRM refused the new record")
    decision = capture_decision(crm_env, sub.id)
    assert (decision.kind, decision.outcome) == ("capture", FAILED)
    assert decision.reason.startswith("Web form submission from John Smith not captured: the CRM refused")


def test_a_submission_without_email_or_phone_fails_without_a_crm_call(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot()
    calls = browser(crm_sandbox).get(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls").json()
    sub = run(crm_env, tenant_id, submit(crm_env, tenant_id, {"first_name": "Nobody", "message": "hi"}))
    assert (sub.status, sub.error) == (FAILED, "no email and no phone to reach the person by")
    after = browser(crm_sandbox).get(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/calls").json()
    assert len(after["calls"]) == len(calls["calls"])


def test_a_new_record_gets_what_the_crm_holds_and_the_note_the_rest():
    enrichment = Enrichment(filled={"city": "Dallas"}, sources={"city": "ZIP 75201"},
                            email_type="free", timezone="America/Chicago")
    writable = frozenset({"email", "first_name", "last_name", "city", "leadrelay_timezone"})
    fields, unplaced = for_create({"email": "a@gmail.com", "first_name": "Ada", "source": "Web"}, enrichment,
                                  writable, "contact")
    assert fields == {"email": "a@gmail.com", "first_name": "Ada", "city": "Dallas",
                      "leadrelay_timezone": "America/Chicago"}
    assert unplaced == {"source": "Web", "leadrelay_enriched": "city from ZIP 75201", "leadrelay_email_type": "free"}
    sf_fields, _ = for_create({"email": "a@gmail.com"}, Enrichment(), frozenset({"email", "last_name", "company"}),
                              "lead")
    assert sf_fields == {"email": "a@gmail.com", "last_name": "[not provided]", "company": "[not provided]"}
    text = note_text({"message": "Call me", "utm_source": "google", "page_url": "https://x.example/p",
                      "consent": "true", "consent_text": "I agree"}, {"your-size": "XL"}, unplaced, returning=True)
    assert text.splitlines() == [
        "Web form submission (came back)", "", "Message:", "Call me", "", "UTM source: google",
        "Page: https://x.example/p", "Consent: yes", "Consent text: I agree", "Source: Web",
        "Enriched: city from ZIP 75201", "Email type: free", "your-size: XL"]


def test_twin_submissions_lock_on_the_same_normalised_keys():
    a = lock_keys(1, {"email": "Grace.Hopper+web@GMAIL.com", "phone": "+1 214 555 0134"})
    b = lock_keys(1, {"email": "gracehopper@gmail.com", "phone": "(214) 555-0134", "country": "US"})
    assert a == b == ["leadrelay:lock:capture:1:email:gracehopper@gmail.com",
                      "leadrelay:lock:capture:1:phone:+12145550134"]


def test_the_returning_policy_is_part_of_the_rule_set():
    assert load_rules(yaml.safe_dump(rules("route_again_if_unowned"))).returning.on_return == "route_again_if_unowned"
    assert load_rules(yaml.safe_dump({"version": 1})).returning.on_return == "task"
    with pytest.raises(RulesError):
        load_rules(yaml.safe_dump({**rules(), "returning": {"on_return": "merge"}}))
