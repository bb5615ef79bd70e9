"""Contract tests: simple-salesforce 1.12 against the sandbox's Salesforce REST API."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tests.sandbox.conftest import control


@pytest.fixture(scope="module")
def sf_server(sandbox_server):
    """The shared sandbox server (tests/sandbox/conftest.py)."""
    return sandbox_server


def new_org(server, seed: str | None = "demo", users: list | None = None) -> dict:
    resp = control(server).post(f"{server.url}/_sandbox/accounts", timeout=10,
                                json={"platform": "salesforce", "name": "Acme org", "users": users or [],
                                      **({"seed": seed} if seed else {})})
    resp.raise_for_status()
    return resp.json()


def client(server, token: str) -> Salesforce:
    session = requests.Session()
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would override verify
    session.verify = server.sandbox.ca_file
    return Salesforce(instance_url=server.tls_url, session_id=token, session=session, version="59.0")


@pytest.fixture()
def org(sf_server):
    sf_server.sandbox.config.reset()
    return new_org(sf_server)


@pytest.fixture()
def sf(sf_server, org) -> Salesforce:
    return client(sf_server, org["access_token"])


def soql(template: str, **values: str) -> str:
    """SOQL with sandbox-issued ids filled in (test data, never user input)."""
    return template.format(**values)


def one(sf: Salesforce, soql: str) -> dict:
    records = sf.query(soql)["records"]
    assert len(records) == 1, records
    return records[0]


def test_read_single_record_and_selected_fields(sf):
    lead = one(sf, "SELECT Id FROM Lead WHERE Email = 'sofia.rossi@example.it'")
    full = sf.Lead.get(lead["Id"])
    assert full["attributes"]["type"] == "Lead" and full["Company"] == "Rossi Design"
    assert full["Id"].startswith("00Q") and len(full["Id"]) == 18
    assert {"CreatedDate", "LastModifiedDate", "SystemModstamp", "LastModifiedById", "OwnerId"} <= set(full)
    some = sf.Lead.get(lead["Id"], params={"fields": "Email,Status"})
    assert set(some) == {"attributes", "Email", "Status"}


def test_batch_read_through_sobject_collections(sf):
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY LastName LIMIT 3")["records"]]
    rows = sf.restful("composite/sobjects/Contact", params={"ids": ",".join(ids + ["003000000000000AAA"]),
                                                           "fields": "Id,Email,Account.Name"})
    assert [r["Id"] for r in rows[:3]] == ids and rows[3] is None
    assert all(r["Account"]["Name"] for r in rows[:3])


def test_create_update_delete_keep_system_fields(sf, org):
    created = sf.Lead.create({"LastName": "Nguyen", "Company": "Lotus Foods", "Email": "an@lotus.example"})
    assert created["success"] and created["id"].startswith("00Q")
    before = sf.Lead.get(created["id"])
    assert before["Status"] == "Open - Not Contacted" and before["IsDeleted"] is False
    assert sf.Lead.update(created["id"], {"Status": "Working - Contacted"}) == 204
    after = sf.Lead.get(created["id"])
    assert after["Status"] == "Working - Contacted"
    assert after["LastModifiedDate"] > before["LastModifiedDate"]
    assert after["CreatedDate"] == before["CreatedDate"]
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.get(created["id"])
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert sf.query(soql("SELECT Id FROM Lead WHERE Id = '{i}'", i=created["id"]))["totalSize"] == 0
    deleted = sf.query_all(soql("SELECT Id, IsDeleted FROM Lead WHERE Id = '{i}'", i=created["id"]),
                           include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True


def test_duplicate_search_by_email_is_case_insensitive(sf):
    leads = sf.query("SELECT Id, Name FROM Lead WHERE Email = 'jon.smith@acme.com'")["records"]
    contacts = sf.query("SELECT Id, Name FROM Contact WHERE Email IN ('jon.smith@acme.com')")["records"]
    assert [r["Name"] for r in leads] == ["Jon Smith"]
    assert [r["Name"] for r in contacts] == ["Jonathan Smith"]


def test_duplicate_search_by_phone_and_by_name_and_company(sf):
    by_phone = sf.query("SELECT Name FROM Contact WHERE Phone = '+1 212 555 0100' ORDER BY Name")["records"]
    assert [r["Name"] for r in by_phone] == ["Maria Garcia", "Mark Chen"]  # colleagues, not duplicates
    by_name = sf.query("SELECT Name, Company FROM Lead WHERE (LastName = 'turner' AND Company LIKE 'glob%') "
                       "OR (FirstName = 'Katie' AND NOT Email LIKE '%@acme.com') ORDER BY Email DESC")["records"]
    assert [(r["Name"], r["Company"]) for r in by_name] == [
        ("Katie Jones", "Jones Consulting"), ("Katie Jones", "Self-employed"), ("Bill Turner", "Globex")]


def test_users_have_active_state_and_time_zones(sf):
    users = sf.query("SELECT Id, Name, Email, IsActive, TimeZoneSidKey FROM User ORDER BY Name")["records"]
    assert len(users) == 4 and all(u["IsActive"] for u in users)
    assert len({u["TimeZoneSidKey"] for u in users}) == 4
    sf.User.update(users[1]["Id"], {"IsActive": False})
    assert sf.query("SELECT COUNT() FROM User WHERE IsActive = true")["totalSize"] == 3
    lead = one(sf, "SELECT Id FROM Lead WHERE Email = 'noah.martin@northwind.example'")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead["Id"], {"OwnerId": users[1]["Id"]})
    assert err.value.content[0]["errorCode"] == "INACTIVE_OWNER_OR_USER"


def test_account_for_domain_with_owner_and_set_owner(sf):
    account = one(sf, "SELECT Id, Name, OwnerId, Owner.Name, Owner.TimeZoneSidKey FROM Account "
                      "WHERE Website LIKE '%acme.com%'")
    assert account["Name"] == "Acme Corporation" and account["Owner"]["Name"]
    users = sf.query(soql("SELECT Id, Name FROM User WHERE Id != '{i}'", i=account["OwnerId"]))["records"]
    sf.Account.update(account["Id"], {"OwnerId": users[0]["Id"]})
    moved = one(sf, soql("SELECT OwnerId, Owner.Name FROM Account WHERE Id = '{i}'", i=account["Id"]))
    assert moved["OwnerId"] == users[0]["Id"] and moved["Owner"]["Name"] == users[0]["Name"]


def test_tasks_complete_and_logged_activities(sf):
    lead = one(sf, "SELECT Id, OwnerId, LastActivityDate FROM Lead WHERE Email = 'sofia.rossi@example.it'")
    assert lead["LastActivityDate"] is None
    task = sf.Task.create({"Subject": "Call back within SLA", "WhoId": lead["Id"], "OwnerId": lead["OwnerId"],
                           "ActivityDate": "2030-01-15", "Priority": "High"})
    open_task = sf.Task.get(task["id"])
    assert (open_task["Status"], open_task["IsClosed"], open_task["ActivityDate"]) == ("Not Started", False,
                                                                                       "2030-01-15")
    sf.Task.update(task["id"], {"Status": "Completed"})
    done = sf.Task.get(task["id"])
    assert done["IsClosed"] is True and done["CompletedDateTime"]
    assert sf.Lead.get(lead["Id"])["LastActivityDate"] == "2030-01-15"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.update(task["id"], {"IsClosed": False})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    turner = one(sf, "SELECT Id FROM Contact WHERE Email = 'william.turner@globex.io'")
    calls = sf.query(soql("SELECT Id, Subject FROM Task WHERE WhoId = '{i}' AND TaskSubtype = 'Call' "
                          "AND IsClosed = true", i=turner["Id"]))["records"]
    assert [c["Subject"] for c in calls] == ["Call: discovery"]
    meetings = sf.query("SELECT Subject, Who.Name FROM Event WHERE Type = 'Meeting'")["records"]
    assert meetings[0]["Who"]["Name"] == "Olivia Brown" and meetings[0]["Who"]["attributes"]["type"] == "Name"


def test_lifecycle_status_is_a_restricted_picklist(sf):
    lead = one(sf, "SELECT Id FROM Lead WHERE Email = 'ahmed.khan@wayne-logistics.com'")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead["Id"], {"Status": "MQL"})
    assert err.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    sf.Lead.update(lead["Id"], {"Status": "Closed - Not Converted"})
    assert sf.Lead.get(lead["Id"])["Status"] == "Closed - Not Converted"


def test_records_changed_since_a_cursor(sf):
    cursor = sf.query("SELECT LastModifiedDate FROM Contact ORDER BY LastModifiedDate DESC LIMIT 1")
    stamp = cursor["records"][0]["LastModifiedDate"].replace(".000+0000", "Z").split(".")[0] + "Z"
    newest = cursor["records"][0]["LastModifiedDate"]
    contact = one(sf, "SELECT Id FROM Contact WHERE Email = 'gavin@hooli.com'")
    sf.Contact.update(contact["Id"], {"Title": "Chief Executive"})
    since = soql("SELECT Id, Title, LastModifiedDate FROM Contact WHERE LastModifiedDate > {s} "
                 "ORDER BY LastModifiedDate ASC", s=stamp)
    changed = [r for r in sf.query(since)["records"] if r["LastModifiedDate"] > newest]
    assert [r["Id"] for r in changed] == [contact["Id"]]
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastModifiedDate = LAST_N_DAYS:1")["totalSize"] == 16


def test_query_paging_with_next_records_url(sf_server, sf):
    sf_server.sandbox.config.update({"limits": {"salesforce": {"query_batch_size": 5}}})
    first = sf.query("SELECT Id, Email FROM Lead ORDER BY Email")
    assert first["done"] is False and first["totalSize"] == 14 and len(first["records"]) == 5
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 5 and second["records"][0]["Id"] != first["records"][0]["Id"]
    everything = sf.query_all("SELECT Id FROM Lead")
    assert len({r["Id"] for r in everything["records"]}) == 14


def test_sobject_collections_create_update_all_or_none(sf):
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "Ok", "Company": "Fine"},
        {"attributes": {"type": "Lead"}, "LastName": "No company"}]})
    assert created[0]["success"] is True
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    rolled = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": created[0]["id"], "Title": "Changed"},
        {"attributes": {"type": "Lead"}, "id": created[0]["id"], "Status": "Bogus"}]})
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.Lead.get(created[0]["id"])["Title"] is None


def test_errors_map_to_the_sdk_exceptions(sf_server, sf, org):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Nickname FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Lead WHERE CreatedDate > '2024-01-01'")
    assert "should not be enclosed in quotes" in err.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Lead WHERE")
    assert err.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "Missing company"})
    assert err.value.content[0] == {"message": "Required fields are missing: [Company]",
                                    "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Company"]}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get("003000000000000AAA")
    with pytest.raises(SalesforceExpiredSession) as err:
        client(sf_server, "00Dxx!not-a-token").query("SELECT Id FROM Lead")
    assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_daily_request_allocation_runs_out_with_403(sf_server):
    fresh = new_org(sf_server, seed=None)
    sf_server.sandbox.config.update({"limits": {"salesforce": {"daily_api_requests": 3}}})
    sf = client(sf_server, fresh["access_token"])
    for _ in range(3):
        sf.query("SELECT Id FROM User LIMIT 1")
    assert tuple(sf.api_usage["api-usage"]) == (3, 3)
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert err.value.status == 403
    assert err.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    raw = sf.session.get(f"{sf.base_url}limits/", headers=sf.headers)
    assert raw.status_code == 403 and raw.headers["Sforce-Limit-Info"] == "api-usage=3/3"


def test_limits_and_describe(sf):
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100000
    assert 0 < limits["DailyApiRequests"]["Remaining"] < 100000
    described = sf.Lead.describe()
    status = next(f for f in described["fields"] if f["name"] == "Status")
    assert described["keyPrefix"] == "00Q" and status["restrictedPicklist"] is True
    assert "Closed - Converted" in [v["value"] for v in status["picklistValues"]]


def test_an_org_without_leadrelays_package_refuses_its_fields_as_unknown(sf_server, sf, org):
    lead = one(sf, "SELECT Id FROM Lead WHERE Email = 'sofia.rossi@example.it'")
    assert sf.Lead.update(lead["Id"], {"LeadRelay_Rule__c": "Germany"}) == 204  # the package is there
    uninstalled = control(sf_server).post(f"{sf_server.url}/_sandbox/accounts/{org['account_id']}/simulate",
                                          json={"action": "uninstall_package"}, timeout=10)
    assert uninstalled.json() == {"package_installed": False}

    names = {f["name"] for f in sf.Lead.describe()["fields"]}
    assert "Email" in names and not [n for n in names if n.startswith("LeadRelay_")]
    assert not [k for k in sf.Lead.get(lead["Id"]) if k.startswith("LeadRelay_")]  # the values went with them
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead["Id"], {"Title": "CEO", "LeadRelay_Score__c": 80})
    assert err.value.status == 400
    assert err.value.content == [{"message": "No such column 'LeadRelay_Score__c' on sobject of type Lead",
                                  "errorCode": "INVALID_FIELD"}]
    saved = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "id": one(sf, "SELECT Id FROM Contact LIMIT 1")["Id"],
         "LeadRelay_Rule__c": "Germany"}]})
    assert saved[0]["errors"] == [{"statusCode": "INVALID_FIELD", "fields": [],
                                   "message": "No such column 'LeadRelay_Rule__c' on sobject of type Contact"}]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, LeadRelay_Rule__c FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert sf.Lead.get(lead["Id"])["Title"] is None  # the refused write changed nothing
