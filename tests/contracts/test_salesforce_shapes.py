"""The Salesforce sandbox's answers against the shapes the REST API Developer Guide documents
(tests/contracts/salesforce_shapes.py): Salesforce publishes no OpenAPI document.

Each call goes through simple-salesforce as SalesforceAdapter makes it (or, for OAuth, as SalesforceOAuth's
requests session does); a `response` hook on the SDK's session keeps the raw answer.

| LeadRelay call (adapters/salesforce, oauth/salesforce.py) | request | shape | answers checked |
|---|---|---|---|
| get_records, find_*, changed_since, list_users, activity_logged_since | GET query | QUERY_PAGE | 200 (2 pages), 400 |
| merge (_merge_pair) | GET queryAll?q= | QUERY_PAGE | 200 |
| SalesforceOAuth.is_admin | GET query?q=SELECT COUNT() … | QUERY_PAGE | 200 |
| get_task, complete_task | GET sobjects/Task/{id}?fields= | RECORD | 200, 404 |
| create_record, create_task | POST sobjects/{SObject} | CREATED, REST_ERRORS | 201, 400 |
| set_owner, set_fields, update/complete_task | PATCH sobjects/{SObject}/{id} | empty 204, REST_ERRORS | 204, 404 |
| set_owners, create_tasks | PATCH, POST composite/sobjects | COLLECTION_RESULTS | 200 (saved and refused) |
| ensure_custom_fields | GET sobjects/{Lead,Contact}/describe | DESCRIBE | 200 |
| (budget) | GET limits, Sforce-Limit-Info on every answer | LIMITS, LIMIT_INFO | 200 |
| every call | an unknown token; the daily allocation spent | REST_ERRORS | 401, 403 |
| SalesforceOAuth | POST /services/oauth2/token (authorization_code, refresh_token) | TOKEN | 200 |
| SalesforceOAuth.identify | GET the identity URL (`id`) | IDENTITY | 200 |
| merge | POST /services/Soap/u/{v} (SOAP, XML) | not JSON: tests/sandbox/test_salesforce_merge_webhooks.py | - |
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.contracts import salesforce_shapes as shapes
from tests.contracts.answers import Recorder, from_requests
from tests.contracts.conftest import control, set_limits


@pytest.fixture()
def recorded(sf_session) -> Recorder:
    recorder = Recorder()
    sf_session.hooks["response"].append(recorder.keep)
    return recorder


def conforms(schema: dict, body) -> None:
    problems = shapes.violations(schema, body)
    assert not problems, "\n".join(problems)


def refused(recorded: Recorder, call, status: int) -> list[dict]:
    """Run an SDK call that must fail; returns the error body after checking status and shape."""
    from simple_salesforce.exceptions import SalesforceError

    with pytest.raises(SalesforceError):
        call()
    answer = recorded.last()
    assert answer.status == status, answer.body
    conforms(shapes.REST_ERRORS, answer.body)
    return answer.body


def test_query_one_page(salesforce_sdk, recorded):
    first = salesforce_sdk.query("SELECT Id, Email, OwnerId FROM Lead ORDER BY CreatedDate",
                                 headers={"Sforce-Query-Options": "batchSize=200"})
    conforms(shapes.QUERY_PAGE, recorded.last().body)
    assert first["records"], "the demo org has leads"
    assert first["done"] is True and "nextRecordsUrl" not in first, "one page holds them all"
    account = salesforce_sdk.query("SELECT Id, Name, Website, OwnerId FROM Account WHERE Website LIKE '%acme%' "
                                   "ORDER BY CreatedDate, Id LIMIT 50")
    conforms(shapes.QUERY_PAGE, account)


def test_query_first_and_last_page(sandbox, salesforce_sdk, recorded):
    set_limits(sandbox, "salesforce", query_batch_size=2)
    page = salesforce_sdk.query("SELECT Id, Name FROM Lead")
    conforms(shapes.QUERY_PAGE, recorded.last().body)
    assert page["done"] is False and page["nextRecordsUrl"], "the first page names the next one"
    while not page["done"]:
        page = salesforce_sdk.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        conforms(shapes.QUERY_PAGE, recorded.last().body)
    assert "nextRecordsUrl" not in recorded.last().body, "the last page names none"


def test_query_all_count_and_a_malformed_query(salesforce_sdk, recorded):
    salesforce_sdk.query("SELECT Id, IsDeleted, MasterRecordId FROM Lead LIMIT 5", include_deleted=True)
    assert urlsplit(recorded.responses[-1].request.url).path.endswith("/queryAll/")
    conforms(shapes.QUERY_PAGE, recorded.last().body)
    counted = salesforce_sdk.query("SELECT COUNT() FROM User")
    conforms(shapes.QUERY_PAGE, counted)
    assert counted["records"] == [] and counted["totalSize"] > 0
    errors = refused(recorded, lambda: salesforce_sdk.query("SELECT FROM Lead WHERE"), 400)
    assert errors[0]["errorCode"] == "MALFORMED_QUERY"


def test_create_read_update_and_refusals(salesforce_sdk, recorded):
    created = salesforce_sdk.Lead.create({"LastName": "Contract", "Company": "Acme", "Email": "c@contract.example"})
    answer = recorded.last()
    assert answer.status == 201
    conforms(shapes.CREATED, answer.body)
    assert created["id"] == answer.body["id"]
    refused(recorded, lambda: salesforce_sdk.Lead.create({"Company": "No last name"}), 400)
    task = salesforce_sdk.Task.create({"Subject": "Call", "WhoId": created["id"], "ActivityDate": "2030-01-02"})
    row = salesforce_sdk.restful(f"sobjects/Task/{task['id']}", params={"fields": "Id,Status,IsClosed,OwnerId"})
    conforms(shapes.RECORD, row)
    assert row["attributes"]["type"] == "Task"
    assert salesforce_sdk.Lead.update(created["id"], {"Title": "CTO"}) == 204
    assert recorded.last().status == 204 and recorded.last().body is None
    refused(recorded, lambda: salesforce_sdk.Lead.update("00Q000000000000AAA", {"Title": "x"}), 404)
    refused(recorded, lambda: salesforce_sdk.restful("sobjects/Task/00T000000000000AAA"), 404)


def test_collections_save_and_refuse_per_record(salesforce_sdk, recorded):
    leads = salesforce_sdk.query("SELECT Id, OwnerId FROM Lead LIMIT 2")["records"]
    records = [{"attributes": {"type": "Lead"}, "id": r["Id"], "OwnerId": r["OwnerId"]} for r in leads]
    records.append({"attributes": {"type": "Lead"}, "id": "00Q000000000000AAA", "OwnerId": leads[0]["OwnerId"]})
    results = salesforce_sdk.restful("composite/sobjects", method="PATCH",
                                     json={"allOrNone": False, "records": records})
    conforms(shapes.COLLECTION_RESULTS, recorded.last().body)
    assert [r["success"] for r in results] == [True, True, False]
    tasks = [{"attributes": {"type": "Task"}, "Subject": "Call", "WhoId": leads[0]["Id"], "Status": "Not Started",
              "ActivityDate": "2030-01-02"}]
    created = salesforce_sdk.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": tasks})
    conforms(shapes.COLLECTION_RESULTS, created)
    assert created[0]["success"] is True


@pytest.mark.parametrize("sobject", ["Lead", "Contact"])
def test_describe(salesforce_sdk, recorded, sobject):
    salesforce_sdk.restful(f"sobjects/{sobject}/describe")
    conforms(shapes.DESCRIBE, recorded.last().body)


def test_limits_and_the_usage_header(salesforce_sdk, recorded):
    salesforce_sdk.restful("limits")
    conforms(shapes.LIMITS, recorded.last().body)
    assert re.fullmatch(shapes.LIMIT_INFO, recorded.last().headers["Sforce-Limit-Info"])
    assert salesforce_sdk.api_usage["api-usage"].total == recorded.last().body["DailyApiRequests"]["Max"]


def test_an_unknown_session_and_a_spent_allocation(sandbox, salesforce_account, sf_session, salesforce_sdk, recorded):
    from simple_salesforce import Salesforce

    stranger = Salesforce(instance_url=salesforce_account["api_base"], session_id="00Dxx!nope", session=sf_session,
                          version="59.0")
    errors = refused(recorded, lambda: stranger.query("SELECT Id FROM Lead"), 401)
    assert errors[0]["errorCode"] == "INVALID_SESSION_ID"
    set_limits(sandbox, "salesforce", daily_api_requests=0)  # the org's 24 h allocation is used up
    errors = refused(recorded, lambda: salesforce_sdk.query("SELECT Id FROM Lead"), 403)
    assert errors[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_oauth_token_refresh_and_identity(sandbox, salesforce_account):
    http = control(sandbox)
    app = {"platform": "salesforce", "client_id": "contract-sf", "client_secret": "contract-sf-secret-0123",
           "redirect_uris": ["https://leadrelay.example/oauth/salesforce/callback"]}
    http.post(f"{sandbox.url}/_sandbox/apps", json=app, timeout=10).raise_for_status()
    approved = http.get(f"{sandbox.tls_url}/services/oauth2/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0],
        "scope": "api refresh_token id", "account": salesforce_account["account_id"]})
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    form = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    token = http.post(f"{sandbox.tls_url}/services/oauth2/token", timeout=10, data={
        **form, "grant_type": "authorization_code", "code": code, "redirect_uri": app["redirect_uris"][0]})
    conforms(shapes.TOKEN, from_requests(token).body)
    refreshed = http.post(f"{sandbox.tls_url}/services/oauth2/token", timeout=10, data={
        **form, "grant_type": "refresh_token", "refresh_token": token.json()["refresh_token"]})
    conforms(shapes.TOKEN, refreshed.json())
    who = http.get(token.json()["id"], headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                   timeout=10)
    assert who.status_code == 200
    conforms(shapes.IDENTITY, who.json())
    assert who.json()["organization_id"] == salesforce_account["account_id"]
