"""The HubSpot sandbox's answers against HubSpot's own OpenAPI documents (tests/contracts/specs/hubspot/).

Each call goes through hubspot-api-client as HubSpotAdapter makes it; the raw answer is validated against the
schema the document publishes for that operation and status (errors: the `default` response, `Error`).

Documents: c = crm-contacts-v3, co = crm-companies-v3, d = crm-deals-v3, t = crm-tasks-v3, ca = crm-calls-v3,
o = crm-owners-v3, p = crm-properties-v3, a = account-info-v3. Paths under /crm/v3/ unless written out.

| LeadRelay call (adapters/hubspot, oauth/hubspot.py) | operation | doc | answers checked |
|---|---|---|---|
| get_record, get_task, activity_logged_since, set_additional | GET objects/{type}/{id} | c co d t | 200, 404, 429 |
| get_records | POST objects/{type}/batch/read | c | 200, 207 |
| find_duplicate_candidates, find_company(ies), changed_since | POST objects/{t}/search | c co | 200 (2 pages) 400 429 |
| activity_logged_since | POST objects/{calls,emails,meetings}/search | ca (stands in for emails, meetings) | 200 |
| list_users | GET owners | o | 200 first and last page |
| list_users | GET /account-info/v3/details | a | 200 |
| set_owner, set_fields, update_task, complete_task | PATCH objects/{type}/{id} | c t | 200, 400, 404 |
| set_owners | POST objects/{type}/batch/update | c | 200, 404 |
| create_record | POST objects/{type} | c | 201, 409 |
| create_records | POST objects/{type}/batch/create | c | 201, 409 (the whole batch) |
| add_note, add_notes | POST objects/notes, …/notes/batch/create | none in the set | not checked |
| create_task | POST objects/tasks | t | 201 |
| create_tasks | POST objects/tasks/batch/create | t | 201 |
| merge | POST objects/{type}/merge | c | 200, 400 or 404 |
| ensure_custom_fields | GET, POST properties/{type}/groups | p | 200, 201, 409 |
| ensure_custom_fields | GET, POST properties/{type} | p | 200, 201, 409 |
| every call | any of the above, no valid token | c | 401 (default `Error`) |
| set_additional | PUT, DELETE /contacts/v1/secondary-email/{vid}/email/{email} | none (legacy v1) | not checked |
| HubSpotOAuth | POST /oauth/v1/token (code, refresh) | OAuth v1 shapes (hubspot_oauth_shapes.py) | 200 |
| HubSpotOAuth.identify, revoke | GET /oauth/v1/access-tokens/{t}, DELETE …/refresh-tokens/{t} | same | 200 404, 204 |
| HubSpotOAuth.is_super_admin | GET /settings/v3/users/{id} | none in the set | not checked |

Known difference (tests/contracts/deviations.py): property values are null where the documents say string.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.hubspot import fields as f
from adapters.hubspot import queries as q
from tests.contracts import hubspot_oauth_shapes as oauth
from tests.contracts.conftest import control, set_limits
from tests.contracts.deviations import HUBSPOT_NULL_PROPERTIES
from tests.contracts.openapi import check, spec
from tests.contracts.salesforce_shapes import violations

NULLS = (HUBSPOT_NULL_PROPERTIES,)
DOCS = {"contacts": "hubspot/crm-contacts-v3.json", "companies": "hubspot/crm-companies-v3.json",
        "deals": "hubspot/crm-deals-v3.json", "tasks": "hubspot/crm-tasks-v3.json",
        "calls": "hubspot/crm-calls-v3.json"}
ONE = {"contacts": "contactId", "companies": "companyId", "deals": "dealId", "tasks": "taskId", "calls": "callId"}
OWNERS, PROPERTIES, ACCOUNT = "hubspot/crm-owners-v3.json", "hubspot/crm-properties-v3.json", \
    "hubspot/account-info-v3.json"


def api(sdk, hs_object: str, name: str):
    node = sdk
    for attr in (*f.SDK_PATHS[hs_object], name):
        node = getattr(node, attr)
    return node


def first_ids(sdk, hs, hs_object: str, n: int = 3) -> list[str]:
    page = hs(api(sdk, hs_object, "basic_api"), "get_page", limit=n, archived=False)
    return [r["id"] for r in page.body["results"]]


def task_body(owner_id: str, contact_id: str, trace: str | None = None) -> dict:
    props = {"hs_task_subject": "Call the lead", "hs_task_body": "<p>why</p>", "hs_timestamp": "1893456000000",
             "hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH", "hs_task_type": "CALL",
             "hubspot_owner_id": owner_id}
    link = {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                 "associationTypeId": f.TASK_ASSOCIATIONS["contacts"]}]}
    return {"properties": props, "associations": [link], **({"objectWriteTraceId": trace} if trace else {})}


# reads --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hs_object", ["contacts", "companies", "deals"])
def test_get_record_as_the_adapter_reads_it(hubspot_sdk, hs, hs_object):
    record_id = first_ids(hubspot_sdk, hs, hs_object, 1)[0]
    links = {"contacts": ["companies"], "deals": ["companies", "contacts"]}.get(hs_object)
    answer = hs(api(hubspot_sdk, hs_object, "basic_api"), "get_by_id", record_id,
                properties=f.read_properties(hs_object), associations=links, archived=False)
    # the deals document spells its paths with the object type id (/crm/v3/objects/0-3/…); the SDK asks /deals/
    in_doc = {"deals": "0-3"}.get(hs_object, hs_object)
    check(answer, DOCS[hs_object], "GET", f"/crm/v3/objects/{in_doc}/{{{ONE[hs_object]}}}", allow=NULLS,
          expect=200, requested=f"/crm/v3/objects/{hs_object}/{{id}}")


def test_get_task_and_an_unknown_record(hubspot_sdk, hs):
    task_id = first_ids(hubspot_sdk, hs, "tasks", 1)[0]
    props = ["hs_task_status", "hs_timestamp", "hs_task_completion_date", "hubspot_owner_id"]
    ok = hs(api(hubspot_sdk, "tasks", "basic_api"), "get_by_id", task_id, properties=props, archived=False)
    check(ok, DOCS["tasks"], "GET", "/crm/v3/objects/tasks/{taskId}", allow=NULLS, expect=200)
    gone = hs(api(hubspot_sdk, "contacts", "basic_api"), "get_by_id", "9099999999", archived=False)
    check(gone, DOCS["contacts"], "GET", "/crm/v3/objects/contacts/{contactId}", expect=404)


def test_batch_read_all_found_and_some_missing(hubspot_sdk, hs):
    ids = first_ids(hubspot_sdk, hs, "contacts")
    pkg = q.package("contacts")
    batch = api(hubspot_sdk, "contacts", "batch_api")

    def read(wanted):
        body = pkg.BatchReadInputSimplePublicObjectId(properties=f.read_properties("contacts"),
                                                      properties_with_history=[],
                                                      inputs=[pkg.SimplePublicObjectId(id=i) for i in wanted])
        return hs(batch, "read", body, archived=False)

    check(read(ids), DOCS["contacts"], "POST", "/crm/v3/objects/contacts/batch/read", allow=NULLS, expect=200)
    check(read([*ids, "9099999999"]), DOCS["contacts"], "POST", "/crm/v3/objects/contacts/batch/read",
          allow=NULLS, expect=207)


def test_search_first_and_last_page(hubspot_sdk, hs):
    search = api(hubspot_sdk, "contacts", "search_api")
    everyone = [[{"property_name": "lastname", "operator": "HAS_PROPERTY"}]]
    first = hs(search, "do_search", q.search_request("contacts", everyone, f.read_properties("contacts"), 2))
    check(first, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/search", allow=NULLS, expect=200)
    after = first.body["paging"]["next"]["after"]
    assert isinstance(after, str) and after
    total = first.body["total"]
    last = hs(search, "do_search", q.search_request("contacts", everyone, ["email"], 2, after=str(total - 1)))
    check(last, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/search", allow=NULLS, expect=200)
    assert "paging" not in last.body or not last.body["paging"].get("next"), "the last page offers no next page"


def test_company_search_and_a_refused_search(hubspot_sdk, hs):
    search = api(hubspot_sdk, "companies", "search_api")
    found = hs(search, "do_search", q.companies_request(["acmerobotics.com", "globex.com"], None))
    check(found, DOCS["companies"], "POST", "/crm/v3/objects/companies/search", allow=NULLS, expect=200)
    assert found.body["results"], "the seeded companies are found"
    six_groups = [[{"property_name": "name", "operator": "EQ", "value": str(n)}] for n in range(6)]
    body = q.package("companies").PublicObjectSearchRequest(
        filter_groups=[q.package("companies").FilterGroup(filters=[q.package("companies").Filter(**x) for x in g])
                       for g in six_groups], properties=["name"], limit=1)
    refused = hs(search, "do_search", body)
    check(refused, DOCS["companies"], "POST", "/crm/v3/objects/companies/search", expect=400)


@pytest.mark.parametrize("activity", ["calls", "emails", "meetings"])
def test_activity_search(hubspot_sdk, hs, activity):
    contact = first_ids(hubspot_sdk, hs, "contacts", 1)[0]
    answer = hs(api(hubspot_sdk, activity, "search_api"), "do_search",
                q.activity_request(activity, "contact", contact, 0))
    check(answer, DOCS["calls"], "POST", "/crm/v3/objects/calls/search", allow=NULLS, expect=200,
          requested=f"/crm/v3/objects/{activity}/search")


def test_owners_first_and_last_page(hubspot_sdk, hs):
    owners = hubspot_sdk.crm.owners.owners_api
    first = hs(owners, "get_page", limit=2, archived=False)
    check(first, OWNERS, "GET", "/crm/v3/owners", expect=200)
    after = first.body["paging"]["next"]["after"]
    last = hs(owners, "get_page", limit=100, after=after, archived=False)
    check(last, OWNERS, "GET", "/crm/v3/owners", expect=200)
    assert not (last.body.get("paging") or {}).get("next")
    check(hs(owners, "get_page", limit=100, archived=True), OWNERS, "GET", "/crm/v3/owners", expect=200)


def test_account_details(hubspot_sdk, hs):
    # HubSpotClient.get_path sends it through the owners package's generated ApiClient
    api_client = hubspot_sdk.crm.owners.owners_api.api_client
    answer = hs.raw(api_client, "GET", "/account-info/v3/details")
    check(answer, ACCOUNT, "GET", "/account-info/v3/details", expect=200)


# writes -------------------------------------------------------------------------------------------
def test_update_record_and_task(hubspot_sdk, hs):
    contact = first_ids(hubspot_sdk, hs, "contacts", 1)[0]
    owner = hs(hubspot_sdk.crm.owners.owners_api, "get_page", limit=1, archived=False).body["results"][0]["id"]
    pkg = q.package("contacts")
    basic = api(hubspot_sdk, "contacts", "basic_api")
    ok = hs(basic, "update", contact, pkg.SimplePublicObjectInput(properties={"hubspot_owner_id": owner}))
    check(ok, DOCS["contacts"], "PATCH", "/crm/v3/objects/contacts/{contactId}", allow=NULLS, expect=200)
    unknown = hs(basic, "update", contact, pkg.SimplePublicObjectInput(properties={"no_such_property": "x"}))
    check(unknown, DOCS["contacts"], "PATCH", "/crm/v3/objects/contacts/{contactId}", expect=400)
    gone = hs(basic, "update", "9099999999", pkg.SimplePublicObjectInput(properties={"jobtitle": "x"}))
    check(gone, DOCS["contacts"], "PATCH", "/crm/v3/objects/contacts/{contactId}", expect=404)
    task = first_ids(hubspot_sdk, hs, "tasks", 1)[0]
    done = hs(api(hubspot_sdk, "tasks", "basic_api"), "update", task,
              q.package("tasks").SimplePublicObjectInput(properties={"hs_task_status": "COMPLETED"}))
    check(done, DOCS["tasks"], "PATCH", "/crm/v3/objects/tasks/{taskId}", allow=NULLS, expect=200)


def test_batch_update(hubspot_sdk, hs):
    ids = first_ids(hubspot_sdk, hs, "contacts", 2)
    pkg = q.package("contacts")
    batch = api(hubspot_sdk, "contacts", "batch_api")

    def update(wanted):
        return hs(batch, "update", pkg.BatchInputSimplePublicObjectBatchInput(inputs=[
            pkg.SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Buyer"}) for i in wanted]))

    check(update(ids), DOCS["contacts"], "POST", "/crm/v3/objects/contacts/batch/update", allow=NULLS, expect=200)
    check(update([*ids, "9099999999"]), DOCS["contacts"], "POST", "/crm/v3/objects/contacts/batch/update",
          expect=404)


def test_create_record_and_a_duplicate_email(hubspot_sdk, hs):
    pkg = q.package("contacts")
    basic = api(hubspot_sdk, "contacts", "basic_api")
    props = {"email": "new.lead@contract.example", "firstname": "New", "lastname": "Lead"}
    created = hs(basic, "create", pkg.SimplePublicObjectInputForCreate(properties=props))
    check(created, DOCS["contacts"], "POST", "/crm/v3/objects/contacts", allow=NULLS, expect=201)
    again = hs(basic, "create", pkg.SimplePublicObjectInputForCreate(properties=props))
    check(again, DOCS["contacts"], "POST", "/crm/v3/objects/contacts", expect=409)


def test_create_records_batched_and_refused_as_a_whole_for_a_taken_email(hubspot_sdk, hs):
    pkg = q.package("contacts")
    batch = api(hubspot_sdk, "contacts", "batch_api")

    def body(*emails: str):
        return pkg.BatchInputSimplePublicObjectBatchInputForCreate(inputs=[pkg.SimplePublicObjectBatchInputForCreate(
            properties={"email": e}, associations=[], object_write_trace_id=str(n)) for n, e in enumerate(emails)])

    many = hs(batch, "create", body("batch.one@contract.example", "batch.two@contract.example"))
    check(many, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/batch/create", allow=NULLS, expect=201)
    refused = hs(batch, "create", body("batch.three@contract.example", "batch.one@contract.example"))
    check(refused, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/batch/create", expect=409)


def test_create_tasks_one_and_batched(hubspot_sdk, hs):
    contact = first_ids(hubspot_sdk, hs, "contacts", 1)[0]
    owner = hs(hubspot_sdk.crm.owners.owners_api, "get_page", limit=1, archived=False).body["results"][0]["id"]
    pkg = q.package("tasks")
    one = hs(api(hubspot_sdk, "tasks", "basic_api"), "create",
             pkg.SimplePublicObjectInputForCreate(**_sdk_task(pkg, task_body(owner, contact))))
    check(one, DOCS["tasks"], "POST", "/crm/v3/objects/tasks", allow=NULLS, expect=201)
    inputs = [pkg.SimplePublicObjectBatchInputForCreate(**_sdk_task(pkg, task_body(owner, contact)),
                                                        object_write_trace_id=str(n)) for n in range(2)]
    many = hs(api(hubspot_sdk, "tasks", "batch_api"), "create",
              pkg.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    check(many, DOCS["tasks"], "POST", "/crm/v3/objects/tasks/batch/create", allow=NULLS, expect=201)


def _sdk_task(pkg, body: dict) -> dict:
    link = body["associations"][0]
    return {"properties": body["properties"], "associations": [pkg.PublicAssociationsForObject(
        to=pkg.PublicObjectId(id=link["to"]["id"]), types=[pkg.AssociationSpec(
            association_category="HUBSPOT_DEFINED", association_type_id=link["types"][0]["associationTypeId"])])]}


def test_merge_and_a_refused_merge(hubspot_sdk, hs):
    a, b = first_ids(hubspot_sdk, hs, "contacts", 2)
    pkg = q.package("contacts")
    basic = api(hubspot_sdk, "contacts", "basic_api")
    merged = hs(basic, "merge", pkg.PublicMergeInput(primary_object_id=a, object_id_to_merge=b))
    check(merged, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/merge", allow=NULLS, expect=200)
    again = hs(basic, "merge", pkg.PublicMergeInput(primary_object_id=a, object_id_to_merge="9099999999"))
    assert again.status in (400, 404)
    check(again, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/merge")


def test_custom_property_groups_and_properties(hubspot_sdk, hs):
    from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

    groups, core = hubspot_sdk.crm.properties.groups_api, hubspot_sdk.crm.properties.core_api
    check(hs(groups, "get_all", "contacts"), PROPERTIES, "GET", "/crm/v3/properties/{objectType}/groups",
          expect=200)
    group = PropertyGroupCreate(name="leadrelay_contract", label="LeadRelay contract")
    check(hs(groups, "create", "contacts", group), PROPERTIES, "POST", "/crm/v3/properties/{objectType}/groups",
          expect=201)
    check(hs(groups, "create", "contacts", group), PROPERTIES, "POST", "/crm/v3/properties/{objectType}/groups",
          expect=409)
    check(hs(core, "get_all", "contacts", archived=False), PROPERTIES, "GET", "/crm/v3/properties/{objectType}",
          expect=200)
    prop = PropertyCreate(name="leadrelay_contract_score", label="Score", type="number", field_type="number",
                          group_name="leadrelay_contract", description="contract test")
    check(hs(core, "create", "contacts", prop), PROPERTIES, "POST", "/crm/v3/properties/{objectType}",
          expect=201)
    check(hs(core, "create", "contacts", prop), PROPERTIES, "POST", "/crm/v3/properties/{objectType}",
          expect=409)


# limits and auth ----------------------------------------------------------------------------------
def test_burst_limit_429(sandbox, hubspot_sdk, hs):
    contact = first_ids(hubspot_sdk, hs, "contacts", 1)[0]
    set_limits(sandbox, "hubspot", burst_per_10s=0)  # the window is full whatever the clock does
    answer = hs(api(hubspot_sdk, "contacts", "basic_api"), "get_by_id", contact, archived=False)
    check(answer, DOCS["contacts"], "GET", "/crm/v3/objects/contacts/{contactId}", expect=429)
    assert answer.headers["X-HubSpot-RateLimit-Remaining"] == "0"  # what HubSpotClient feeds to the budget


def test_search_limit_429(sandbox, hubspot_sdk, hs):
    set_limits(sandbox, "hubspot", search_per_second=0)
    body = q.search_request("contacts", [[{"property_name": "email", "operator": "HAS_PROPERTY"}]], ["email"], 1)
    answer = hs(api(hubspot_sdk, "contacts", "search_api"), "do_search", body)
    check(answer, DOCS["contacts"], "POST", "/crm/v3/objects/contacts/search", expect=429)


def test_unknown_token_401(sandbox, hubspot_account, hs):
    from hubspot import HubSpot

    stranger = HubSpot(access_token="not-a-token", host=hubspot_account["api_base"].rstrip("/"), retry=False,
                       ssl_ca_cert=sandbox.sandbox.ca_file)
    answer = hs.unlogged(api(stranger, "contacts", "basic_api"), "get_page", limit=1, http_method="GET",
                         path="/crm/v3/objects/contacts")
    check(answer, DOCS["contacts"], "GET", "/crm/v3/objects/contacts", expect=401)


# the known difference -----------------------------------------------------------------------------
def test_hubspot_property_values_null_where_spec_says_string(hubspot_sdk, hs):
    """HubSpot answers null for a requested property with no value; its documents type every value string."""
    record_id = first_ids(hubspot_sdk, hs, "contacts", 1)[0]
    answer = hs(api(hubspot_sdk, "contacts", "basic_api"), "get_by_id", record_id,
                properties=["email", "leadrelay_reason"], archived=False)
    assert answer.body["properties"]["leadrelay_reason"] is None, "a property with no value is null"
    schema = spec(DOCS["contacts"]).document["components"]["schemas"]["SimplePublicObjectWithAssociations"]
    assert schema["properties"]["properties"]["additionalProperties"] == {"type": "string", "example": None}
    verdict = check(answer, DOCS["contacts"], "GET", "/crm/v3/objects/contacts/{contactId}", allow=NULLS)
    assert verdict.excused == {"hubspot-null-property-value": 2}  # "None for not nullable" + "not of type string"
    with pytest.raises(AssertionError, match=r"\$\.properties\.leadrelay_reason"):
        check(answer, DOCS["contacts"], "GET", "/crm/v3/objects/contacts/{contactId}")


# OAuth (shapes transcribed from HubSpot's OAuth v1 document: tests/contracts/hubspot_oauth_shapes.py) -------
def test_oauth_code_exchange_token_info_refresh_and_delete(sandbox, hubspot_account):
    http = control(sandbox)
    app = {"platform": "hubspot", "client_id": "contract-hs", "client_secret": "contract-hs-secret-0123",
           "redirect_uris": ["https://leadrelay.example/oauth/hubspot/callback"]}
    http.post(f"{sandbox.url}/_sandbox/apps", json=app, timeout=10).raise_for_status()
    approved = http.get(f"{sandbox.url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0],
        "scope": "oauth crm.objects.contacts.read", "account": hubspot_account["account_id"]})
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    form = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    token = http.post(f"{sandbox.url}/oauth/v1/token", timeout=10, data={
        **form, "grant_type": "authorization_code", "code": code, "redirect_uri": app["redirect_uris"][0]})
    assert token.status_code == 200 and not violations(oauth.TOKEN, token.json())
    info = http.get(f"{sandbox.url}/oauth/v1/access-tokens/{token.json()['access_token']}", timeout=10)
    assert info.status_code == 200 and not violations(oauth.ACCESS_TOKEN_INFO, info.json())
    assert str(info.json()["hub_id"]) == str(hubspot_account["account_id"])
    refreshed = http.post(f"{sandbox.url}/oauth/v1/token", timeout=10, data={
        **form, "grant_type": "refresh_token", "refresh_token": token.json()["refresh_token"]})
    assert refreshed.status_code == 200 and not violations(oauth.TOKEN, refreshed.json())
    deleted = http.delete(f"{sandbox.url}/oauth/v1/refresh-tokens/{token.json()['refresh_token']}", timeout=10)
    assert deleted.status_code == 204 and not deleted.content
    unknown = http.get(f"{sandbox.url}/oauth/v1/access-tokens/not-a-token", timeout=10)
    assert unknown.status_code == 404 and not violations(oauth.ERROR, unknown.json())
