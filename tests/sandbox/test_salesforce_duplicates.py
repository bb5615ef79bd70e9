"""Duplicate rules through simple-salesforce: alert rules refuse API saves unless the request allows the save, block
rules refuse them whatever it says, and the refusal carries the duplicate's details (sandbox/salesforce/duplicates.py
names the sources)."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.sandbox.conftest import new_account

ALLOW = {"Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=false; runAsCurrentUser=false"}
ADA = {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@engines.example", "Company": "Analytical Engines"}


@pytest.fixture()
def rules(sandbox):
    """Sets the org's duplicate rules for one test (the sandbox server is shared: its config is reset after)."""
    def set_rules(value):
        resp = control(sandbox, "/config", {"duplicate_rules": value})
        assert resp.status_code == 200, resp.text
    yield set_rules
    sandbox.sandbox.config.reset()


@pytest.fixture()
def sf(sandbox, http) -> Salesforce:
    org = new_account(sandbox, "salesforce")
    return Salesforce(instance_url=org["api_base"], session_id=org["access_token"], session=http, version="59.0")


def control(sandbox, path: str, body: dict) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(f"{sandbox.url}/_sandbox{path}", json=body, timeout=10)


def refused(call) -> dict:
    with pytest.raises(SalesforceMalformedRequest) as err:
        call()
    assert err.value.status == 400
    [body] = err.value.content
    return body


def test_no_rule_is_active_by_default(sf):
    first, second = sf.Lead.create(ADA), sf.Lead.create(ADA)
    assert first["success"] and second["success"] and first["id"] != second["id"]


def test_the_standard_rules_alert_on_create_so_the_api_needs_allow_save(sf, rules):
    rules("standard")
    existing = sf.Lead.create(ADA)["id"]
    body = refused(lambda: sf.Lead.create({**ADA, "Company": "Elsewhere"}))  # name + email match
    assert (body["errorCode"], body["message"]) == ("DUPLICATES_DETECTED", "Use one of these records?")
    result = body["duplicateResut"]  # sic: the real API's spelling
    assert (result["allowSave"], result["duplicateRule"], result["duplicateRuleEntityType"]) == (
        True, "Standard_Lead_Duplicate_Rule", "Lead")
    [match] = result["matchResults"]
    assert [r["record"]["Id"] for r in match["matchRecords"]] == [existing] and match["size"] == 1
    saved = sf.Lead.create({**ADA, "Company": "Elsewhere"}, headers=ALLOW)
    assert saved["success"]
    # edits only report: the API saves them without the header
    assert sf.Lead.update(saved["id"], {"Title": "Countess"}) == 204


def test_a_block_rule_refuses_even_with_allow_save_and_changes_nothing(sf, rules):
    lead = sf.Lead.create(ADA)["id"]
    other = sf.Lead.create({**ADA, "Email": "ada@elsewhere.example"})["id"]
    rules([{"sobject": "Lead", "name": "One_Lead_Per_Company", "on_create": "block", "on_edit": "block",
            "match": ["Company"], "message": "This company already has a lead."}])
    body = refused(lambda: sf.Lead.update(other, {"OwnerId": sf.query("SELECT Id FROM User LIMIT 1")["records"][0]
                                                  ["Id"]}, headers=ALLOW))
    assert (body["message"], body["duplicateResut"]["allowSave"]) == ("This company already has a lead.", False)
    assert [r["record"]["Id"] for r in body["duplicateResut"]["matchResults"][0]["matchRecords"]] == [lead]
    assert sf.Lead.get(other)["LastModifiedDate"] == sf.Lead.get(other)["CreatedDate"]  # not saved


def test_collections_answer_per_record_and_honour_the_header(sf, rules):
    sf.Lead.create(ADA)
    rules([{"sobject": "Lead", "on_create": "alert", "match": ["Email"]}])
    twin = {"attributes": {"type": "Lead"}, **ADA, "LastName": "Byron"}
    fresh = {"attributes": {"type": "Lead"}, "LastName": "Hopper", "Company": "Navy", "Email": "grace@navy.example"}
    answers = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [twin, fresh]})
    assert answers[0] == {"id": None, "success": False, "errors": [
        {"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": []}]}
    assert answers[1]["success"]
    again = sf.restful("composite/sobjects", method="POST", headers=ALLOW,
                       json={"allOrNone": False, "records": [twin]})
    assert again[0]["success"]


def test_collections_create_without_all_or_none_saves_past_a_blocked_or_invalid_record(sf, rules):
    sf.Lead.create(ADA)
    rules([{"sobject": "Lead", "on_create": "block", "match": ["Email"], "message": "One lead per email."}])
    records = [{"attributes": {"type": "Lead"}, "LastName": "Hopper", "Company": "Navy"},
               {"attributes": {"type": "Lead"}, **ADA, "LastName": "Byron"},
               {"attributes": {"type": "Lead"}, "LastName": "No company"},
               {"attributes": {"type": "Lead"}, "LastName": "Turing", "Company": "Bletchley"}]
    answers = sf.restful("composite/sobjects", method="POST", headers=ALLOW,
                         json={"allOrNone": False, "records": records})
    assert [a["success"] for a in answers] == [True, False, False, True]
    assert answers[1]["errors"] == [{"statusCode": "DUPLICATES_DETECTED", "message": "One lead per email.",
                                     "fields": []}]
    assert answers[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    saved = sf.query("SELECT LastName FROM Lead WHERE LastName IN ('Hopper', 'Byron', 'No company', 'Turing')")
    assert sorted(r["LastName"] for r in saved["records"]) == ["Hopper", "Turing"]


def test_collections_create_notes_on_their_parents(sf):
    lead = sf.Lead.create(ADA)["id"]
    answers = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Note"}, "ParentId": lead, "Title": "Web form", "Body": "Asked for pricing"},
        {"attributes": {"type": "Note"}, "ParentId": "00Q000000000000AAA", "Title": "Lost", "Body": "x"}]})
    assert answers[0]["success"] and not answers[1]["success"]
    assert sf.Note.get(answers[0]["id"])["ParentId"] == lead


def test_a_ui_user_saves_past_an_alert_but_not_past_a_block(sandbox, rules):
    org = new_account(sandbox, "salesforce")
    path = f"/accounts/{org['account_id']}/simulate"
    create = {"action": "create", "object_type": "Lead", "properties": ADA}
    assert control(sandbox, path, create).status_code == 200
    rules([{"sobject": "Lead", "on_create": "alert", "match": ["Email"]}])
    assert control(sandbox, path, create).status_code == 200
    rules([{"sobject": "Lead", "on_create": "block", "match": ["Email"]}])
    answer = control(sandbox, path, create)
    assert answer.status_code == 400 and "DUPLICATES_DETECTED" in answer.json()["error"]


@pytest.mark.parametrize("value", ["all", [{"sobject": "Lead", "on_create": "warn", "match": ["Email"]}],
                                   [{"sobject": "Lead", "match": []}], [{"sobject": "Lead", "match": ["Email"],
                                                                         "colour": "red"}]])
def test_a_malformed_rule_setting_is_a_400(sandbox, value):
    resp = control(sandbox, "/config", {"duplicate_rules": value})
    assert resp.status_code == 400 and resp.json()["error"].startswith("duplicate_rules")
