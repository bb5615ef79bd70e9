"""The Pipedrive sandbox's answers against Pipedrive's own OpenAPI documents (tests/contracts/specs/pipedrive/).

Each call goes through pipedrive-python-lib's request layer as PipedriveClient sends it (v1 by the SDK's base
URL, v2 by absolute URLs); the raw answer is validated against the schema the document publishes for that
operation and status. The v2 document publishes no error answers for these operations and neither document
publishes a 429: those are judged by `ENVELOPE`, the error schema the same document publishes elsewhere plus the
rule of Pipedrive's "Responses" page that every error answer is `{success: false, error, …}`.

| LeadRelay call (adapters/pipedrive, oauth/pipedrive.py) | operation | doc | answers checked |
|---|---|---|---|
| get_record, get/complete_task, set_owner | GET /api/v2/{persons,organizations,deals,activities}/{id} | v2 | 200 404 |
| get_records | GET /api/v2/persons?ids= | v2 | 200 |
| changed_since | GET /api/v2/{persons,…}?updated_since&sort_by&cursor | v2 | 200 first and last page |
| activity_logged_since | GET /api/v2/activities?done&person_id | v2 | 200 |
| find_duplicate_candidates | GET /api/v2/persons/search | v2 | 200, 400 |
| find_company, find_companies | GET /api/v2/organizations/search | v2 | 200 |
| set_owner(s), set_fields/additional, update/complete | PATCH /api/v2/{persons,activities}/{id} | v2 | 200 400 404 |
| create_record | POST /api/v2/persons | v2 | 200 |
| create_task(s) | POST /api/v2/activities | v2 | 200 |
| list_users | GET /api/v1/users | v1 | 200 |
| PipedriveOAuth.identify | GET /api/v1/users/me | v1 | 200, 401 |
| changed_since (leads) | GET /api/v1/leads?start&limit | v1 | 200 first and last page |
| get_record, set_owner (leads) | GET, PATCH /api/v1/leads/{id} | v1 | 200, 404 |
| merge | PUT /api/v1/{persons,organizations}/{id}/merge | v1 | 200 |
| (un)subscribe_webhooks | GET, POST /api/v1/webhooks, DELETE /api/v1/webhooks/{id} | v1 | 200, 201, 400, 404 |
| ensure_custom_fields, leadrelay_keys | GET, POST /api/v1/personFields | v1 | 200 |
| _org_website_key | GET /api/v1/organizationFields | v1 | 200 |
| PipedriveOAuth | POST /oauth/token (authorization_code, refresh_token) | v1 | 200 |
| every call | the burst window | ENVELOPE | 429 |
| PipedriveOAuth.revoke | POST /oauth/revoke | none in the documents | not checked |

Known differences (tests/contracts/deviations.py): `next_cursor` null on the last page, null for fields a record
has no value for, v1's inline related objects on a merged person.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.contracts import deviations as dv
from tests.contracts.answers import from_requests, pipedrive
from tests.contracts.conftest import control, set_limits
from tests.contracts.openapi import Fallback, check, spec

V1, V2 = "pipedrive/openapi-v1.json", "pipedrive/openapi-v2.json"
UNSET = (dv.PIPEDRIVE_UNSET_PERSON, dv.PIPEDRIVE_UNSET_ORGANIZATION, dv.PIPEDRIVE_UNSET_DEAL,
         dv.PIPEDRIVE_UNSET_ACTIVITY)
PAGED = (*UNSET, dv.PIPEDRIVE_NULL_NEXT_CURSOR)
# Every error answer: "success: false, error: <main error message>, error_info, data: null, additional_data: null"
# (https://pipedrive.readme.io/docs/core-api-concepts-responses, "Error response").
ERROR_RULE = {"type": "object", "required": ["success", "error"],
              "properties": {"success": {"enum": [False]}, "error": {"type": "string"}}}
ENVELOPE = {
    V2: Fallback(name="pipedrive-v2-error-envelope", document=V2, rule=ERROR_RULE,
                 pointer="/paths/~1deals~1{id}~1convert~1status~1{conversion_id}/get/responses/404/content/"
                         "application~1json/schema",
                 source="the only error answer the v2 document publishes (GetConvertResponse)"),
    V1: Fallback(name="pipedrive-v1-error-envelope", document=V1, rule=ERROR_RULE,
                 pointer="/paths/~1leads~1{id}/get/responses/404/content/application~1json/schema",
                 source="the v1 document's error answer for leads (LeadNotFoundResponse)"),
}


def v2(sdk, method: str, path: str, **kwargs):
    return pipedrive(sdk, method, sdk.v2 + path, **kwargs)


def v1(sdk, method: str, path: str, **kwargs):
    return pipedrive(sdk, method, sdk.BASE_URL + path, **kwargs)


def first(sdk, obj: str, n: int = 1, **params) -> list[dict]:
    return v2(sdk, "get", obj, params={"limit": n, **params}).body["data"]


# v2 reads -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("obj", ["persons", "organizations", "deals", "activities"])
def test_get_one_and_an_unknown_id(pipedrive_sdk, obj):
    record = first(pipedrive_sdk, obj)[0]
    check(v2(pipedrive_sdk, "get", f"{obj}/{record['id']}"), V2, "GET", f"/{obj}/{{id}}", allow=UNSET, expect=200)
    check(v2(pipedrive_sdk, "get", f"{obj}/909999"), V2, "GET", f"/{obj}/{{id}}", fallback=ENVELOPE[V2],
          expect=404)


def test_list_by_ids(pipedrive_sdk):
    ids = [str(p["id"]) for p in first(pipedrive_sdk, "persons", 3)]
    answer = v2(pipedrive_sdk, "get", "persons", params={"ids": ",".join(ids), "limit": len(ids)})
    check(answer, V2, "GET", "/persons", allow=PAGED, expect=200)
    assert sorted(str(p["id"]) for p in answer.body["data"]) == sorted(ids)


def test_changes_first_and_last_page(pipedrive_sdk):
    params = {"updated_since": "1970-01-01T00:00:00Z", "sort_by": "update_time", "sort_direction": "asc",
              "limit": 5}
    page = v2(pipedrive_sdk, "get", "persons", params=params)
    check(page, V2, "GET", "/persons", allow=UNSET, expect=200)
    assert isinstance(page.body["additional_data"]["next_cursor"], str), "the first page names the next one"
    for _ in range(20):
        cursor = page.body["additional_data"]["next_cursor"]
        if cursor is None:
            break
        page = v2(pipedrive_sdk, "get", "persons", params={**params, "cursor": cursor})
        check(page, V2, "GET", "/persons", allow=PAGED, expect=200)
    assert page.body["additional_data"]["next_cursor"] is None, "paging ends"


def test_done_activities_of_a_person(pipedrive_sdk):
    person = first(pipedrive_sdk, "persons")[0]["id"]
    answer = v2(pipedrive_sdk, "get", "activities", params={
        "person_id": person, "done": "true", "updated_since": "1970-01-01T00:00:00Z", "sort_by": "update_time",
        "sort_direction": "asc", "limit": 100})
    check(answer, V2, "GET", "/activities", allow=PAGED, expect=200)


@pytest.mark.parametrize(("obj", "field", "term", "exact"), [
    ("persons", "email", "jennifer.walsh@acmerobotics.com", "true"), ("persons", "phone", "5550143", "false"),
    ("persons", "name", "Walsh", "false"), ("organizations", "name", "Acme Robotics", "true"),
    ("organizations", "custom_fields", "acmerobotics.com", "false")])
def test_search(pipedrive_sdk, obj, field, term, exact):
    answer = v2(pipedrive_sdk, "get", f"{obj}/search",
                params={"term": term, "fields": field, "exact_match": exact, "limit": 20})
    check(answer, V2, "GET", f"/{obj}/search", allow=(dv.PIPEDRIVE_NULL_NEXT_CURSOR,), expect=200)


def test_search_refuses_a_one_letter_term(pipedrive_sdk):
    answer = v2(pipedrive_sdk, "get", "persons/search", params={"term": "a", "fields": "name"})
    check(answer, V2, "GET", "/persons/search", fallback=ENVELOPE[V2], expect=400)


# v2 writes ----------------------------------------------------------------------------------------
def test_create_and_update_a_person(pipedrive_sdk):
    owner = v1(pipedrive_sdk, "get", "users").body["data"][0]["id"]
    created = v2(pipedrive_sdk, "post", "persons", json={
        "name": "Ada Contract", "owner_id": owner, "emails": [{"value": "ada@contract.example", "primary": True}]})
    check(created, V2, "POST", "/persons", allow=UNSET, expect=200)
    pid = created.body["data"]["id"]
    check(v2(pipedrive_sdk, "patch", f"persons/{pid}", json={"owner_id": owner}), V2, "PATCH", "/persons/{id}",
          allow=UNSET, expect=200)
    bad = v2(pipedrive_sdk, "patch", f"persons/{pid}", json={"owner_id": "not a number"})
    check(bad, V2, "PATCH", "/persons/{id}", fallback=ENVELOPE[V2], expect=400)
    gone = v2(pipedrive_sdk, "patch", "persons/909999", json={"owner_id": owner})
    check(gone, V2, "PATCH", "/persons/{id}", fallback=ENVELOPE[V2], expect=404)


def test_create_and_complete_a_task(pipedrive_sdk):
    owner = v1(pipedrive_sdk, "get", "users").body["data"][0]["id"]
    person = first(pipedrive_sdk, "persons")[0]["id"]
    created = v2(pipedrive_sdk, "post", "activities", json={
        "subject": "Call the lead", "type": "call", "owner_id": owner, "note": "<p>why</p>", "done": False,
        "due_date": "2030-01-02", "due_time": "09:30", "participants": [{"person_id": person, "primary": True}]})
    check(created, V2, "POST", "/activities", allow=UNSET, expect=200)
    done = v2(pipedrive_sdk, "patch", f"activities/{created.body['data']['id']}", json={"done": True})
    check(done, V2, "PATCH", "/activities/{id}", allow=UNSET, expect=200)


# v1 ---------------------------------------------------------------------------------------------
def test_users_and_me(sandbox, pipedrive_sdk, pipedrive_account):
    check(v1(pipedrive_sdk, "get", "users"), V1, "GET", "/users", expect=200)
    check(v1(pipedrive_sdk, "get", "users/me"), V1, "GET", "/users/me", allow=(dv.PIPEDRIVE_UNSET_V1,), expect=200)
    stranger = control(sandbox).get(f"{pipedrive_account['api_base'].rstrip('/')}/api/v1/users/me",
                                    headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    check(from_requests(stranger), V1, "GET", "/users/me", expect=401)


def test_leads_first_and_last_page_one_lead_and_its_update(pipedrive_sdk):
    page = v1(pipedrive_sdk, "get", "leads", params={"start": 0, "limit": 1, "sort": "update_time ASC"})
    check(page, V1, "GET", "/leads", allow=(dv.PIPEDRIVE_UNSET_V1,), expect=200)
    paging = page.body["additional_data"]["pagination"]
    assert paging["more_items_in_collection"] is True
    last = v1(pipedrive_sdk, "get", "leads", params={"start": paging["next_start"], "limit": 500})
    check(last, V1, "GET", "/leads", allow=(dv.PIPEDRIVE_UNSET_V1,), expect=200)
    assert last.body["additional_data"]["pagination"]["more_items_in_collection"] is False
    lead = page.body["data"][0]
    check(v1(pipedrive_sdk, "get", f"leads/{lead['id']}"), V1, "GET", "/leads/{id}", allow=(dv.PIPEDRIVE_UNSET_V1,),
          expect=200)
    check(v1(pipedrive_sdk, "get", "leads/00000000-0000-4000-8000-000000000000"), V1, "GET", "/leads/{id}",
          expect=404)
    patched = v1(pipedrive_sdk, "patch", f"leads/{lead['id']}", json={"owner_id": lead["owner_id"]})
    check(patched, V1, "PATCH", "/leads/{id}", allow=(dv.PIPEDRIVE_UNSET_V1,), expect=200)


@pytest.mark.parametrize("obj", ["persons", "organizations"])
def test_merge(pipedrive_sdk, obj):
    survivor, other = (r["id"] for r in first(pipedrive_sdk, obj, 2))
    answer = v1(pipedrive_sdk, "put", f"{obj}/{other}/merge", json={"merge_with_id": survivor})
    check(answer, V1, "PUT", f"/{obj}/{{id}}/merge", allow=(dv.PIPEDRIVE_V1_RELATED_OBJECTS,), expect=200)
    assert answer.body["data"]["id"] == survivor, "merge_with_id survives"


def test_webhooks_list_create_refuse_and_delete(pipedrive_sdk):
    check(v1(pipedrive_sdk, "get", "webhooks"), V1, "GET", "/webhooks", expect=200)
    body = {"subscription_url": "https://leadrelay.example/webhooks/pipedrive", "event_action": "create",
            "event_object": "person", "version": "2.0", "http_auth_user": "key", "http_auth_password": "secret"}
    created = v1(pipedrive_sdk, "post", "webhooks", json=body)
    check(created, V1, "POST", "/webhooks", allow=(dv.PIPEDRIVE_UNSET_V1,), expect=201)
    refused = v1(pipedrive_sdk, "post", "webhooks", json={**body, "event_action": "explode"})
    check(refused, V1, "POST", "/webhooks", expect=400)
    hook = created.body["data"]["id"]
    check(v1(pipedrive_sdk, "delete", f"webhooks/{hook}"), V1, "DELETE", "/webhooks/{id}", expect=200)
    check(v1(pipedrive_sdk, "delete", f"webhooks/{hook}"), V1, "DELETE", "/webhooks/{id}", expect=404)


def test_person_and_organization_fields(pipedrive_sdk):
    check(v1(pipedrive_sdk, "get", "personFields", params={"limit": 500}), V1, "GET", "/personFields", expect=200)
    created = v1(pipedrive_sdk, "post", "personFields", json={"name": "LeadRelay tier", "field_type": "varchar"})
    check(created, V1, "POST", "/personFields", expect=200)
    check(v1(pipedrive_sdk, "get", "organizationFields", params={"limit": 500}), V1, "GET", "/organizationFields",
          expect=200)


def test_oauth_code_exchange_and_refresh(sandbox, pipedrive_account):
    http = control(sandbox)
    app = {"platform": "pipedrive", "client_id": "contract-pd", "client_secret": "contract-pd-secret-0123",
           "redirect_uris": ["https://leadrelay.example/oauth/pipedrive/callback"]}
    http.post(f"{sandbox.url}/_sandbox/apps", json=app, timeout=10).raise_for_status()
    approved = http.get(f"{sandbox.url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0], "state": "s",
        "company_id": pipedrive_account["account_id"]})
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    auth = (app["client_id"], app["client_secret"])
    token = http.post(f"{sandbox.url}/oauth/token", auth=auth, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": app["redirect_uris"][0]})
    check(from_requests(token), V1, "POST", "/oauth/token", expect=200, requested="/oauth/token", prefix="")
    refreshed = http.post(f"{sandbox.url}/oauth/token", auth=auth, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": token.json()["refresh_token"]})
    check(from_requests(refreshed), V1, "POST", "/oauth/token", expect=200, requested="/oauth/token", prefix="")


def test_burst_limit_429(sandbox, pipedrive_sdk):
    set_limits(sandbox, "pipedrive", burst_per_2s=0)  # the window is full whatever the clock does
    check(v2(pipedrive_sdk, "get", "persons", params={"limit": 1}), V2, "GET", "/persons", fallback=ENVELOPE[V2],
          expect=429)
    limited = v1(pipedrive_sdk, "get", "users")
    check(limited, V1, "GET", "/users", fallback=ENVELOPE[V1], expect=429)
    assert int(limited.headers["x-ratelimit-reset"]) >= 1  # what errors.retry_after waits for


# the known differences ----------------------------------------------------------------------------
def _spec_says(document: str, pointer: str) -> dict:
    return spec(document).pointer(pointer)


def test_pipedrive_next_cursor_null_on_last_page_where_spec_says_string(pipedrive_sdk):
    """The last page answers next_cursor null; the v2 document types it a (non-nullable) string."""
    last = v2(pipedrive_sdk, "get", "persons", params={"limit": 500})
    assert last.body["additional_data"]["next_cursor"] is None
    documented = _spec_says(V2, "/paths/~1persons/get/responses/200/content/application~1json/schema/allOf/1/"
                                "properties/additional_data/properties/next_cursor")
    assert documented["type"] == "string" and not documented.get("nullable")
    verdict = check(last, V2, "GET", "/persons", allow=PAGED)
    assert verdict.excused.get("pipedrive-null-next-cursor") == 2  # "not nullable" + "not of type string"
    with pytest.raises(AssertionError, match=r"\$\.additional_data\.next_cursor"):
        check(last, V2, "GET", "/persons", allow=UNSET)


def test_pipedrive_unset_fields_null_where_spec_says_value(pipedrive_sdk):
    """A person without a picture: picture_id null; the v2 document types it a non-nullable integer."""
    person = v2(pipedrive_sdk, "get", f"persons/{first(pipedrive_sdk, 'persons')[0]['id']}")
    assert person.body["data"]["picture_id"] is None
    documented = _spec_says(V2, "/paths/~1persons~1{id}/get/responses/200/content/application~1json/schema/allOf/1/"
                                "properties/data/properties/picture_id")
    assert documented["type"] == "integer" and not documented.get("nullable")
    assert check(person, V2, "GET", "/persons/{id}", allow=UNSET).excused == {"pipedrive-unset-person-fields": 2}
    with pytest.raises(AssertionError, match=r"\$\.data\.picture_id"):
        check(person, V2, "GET", "/persons/{id}")


def test_pipedrive_v1_merge_related_objects_where_spec_says_integer(pipedrive_sdk):
    """v1 answers a merged person's organization and owner as related objects; the document says integer."""
    survivor, other = (r["id"] for r in first(pipedrive_sdk, "persons", 2))
    merged = v1(pipedrive_sdk, "put", f"persons/{other}/merge", json={"merge_with_id": survivor})
    assert dv.is_related_object(merged.body["data"]["owner_id"])
    owner = _spec_says(V1, "/paths/~1persons~1{id}~1merge/put/responses/200/content/application~1json/schema/"
                           "allOf/1/properties/data/allOf/1/allOf/0/allOf/0/properties/owner_id")
    assert owner["type"] == "integer" and not owner.get("nullable")
    assert check(merged, V1, "PUT", "/persons/{id}/merge", allow=(dv.PIPEDRIVE_V1_RELATED_OBJECTS,)).excused


def test_an_unlisted_field_is_not_excused(pipedrive_sdk):
    """The unset-field allowances name their fields: a null where no allowance names it is still a violation."""
    person = v2(pipedrive_sdk, "get", f"persons/{first(pipedrive_sdk, 'persons')[0]['id']}")
    broken = type(person)(**{**person.__dict__, "body": {**person.body, "data": {**person.body["data"],
                                                                                 "owner_id": None}}})
    with pytest.raises(AssertionError, match=r"\$\.data\.owner_id"):
        check(broken, V2, "GET", "/persons/{id}", allow=UNSET)

