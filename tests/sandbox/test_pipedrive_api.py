"""Contract tests: pipedrive-python-lib (v1 wrappers + its request layer for v2) against the Pipedrive sandbox."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from pipedrive import exceptions
from pipedrive.client import Client

from tests.sandbox.conftest import new_account

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "sandbox" / "pipedrive" / "docs"
USERS = [{"email": "ann@acme.example", "name": "Ann Admin", "timezone": "Europe/Berlin"},
         {"email": "ben@acme.example", "name": "Ben Rep", "timezone": "America/Chicago"},
         {"email": "cy@acme.example", "name": "Cy Gone", "timezone": "Asia/Tokyo", "active": False}]






@pytest.fixture(scope="module")
def pd_server(sandbox_server):
    """The shared sandbox server (tests/sandbox/conftest.py)."""
    return sandbox_server


@pytest.fixture()
def acct(pd_server, monkeypatch):
    """A seeded company plus an SDK client on its HTTPS api_domain (CA via REQUESTS_CA_BUNDLE)."""
    pd_server.sandbox.config.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pd_server.sandbox.ca_file)
    info = new_account(pd_server, "pipedrive", USERS, seed="demo")
    client = Client(domain=info["api_base"] + "/api/")
    client.set_access_token(info["access_token"])
    info["client"], info["v2"] = client, info["api_base"] + "/api/v2"
    info["server"] = pd_server
    return info


def test_api_domain_is_the_https_public_url(acct, pd_server):
    assert acct["api_base"] == pd_server.sandbox.public_url.rstrip("/")
    assert acct["api_base"].startswith("https://")


def test_users_with_active_flag_and_time_zone(acct):
    users = acct["client"].users.get_all_users()["data"]
    assert [(u["email"], u["active_flag"], u["timezone_name"]) for u in users] == [
        ("ann@acme.example", True, "Europe/Berlin"), ("ben@acme.example", True, "America/Chicago"),
        ("cy@acme.example", False, "Asia/Tokyo")]
    me = acct["client"].users.get_me()["data"]
    assert me["email"] == "ann@acme.example" and me["is_you"] is True
    assert me["company_id"] and me["company_domain"] and me["timezone_name"] == "Europe/Berlin"


def test_read_single_and_batch_v2_and_v1(acct):
    c, v2 = acct["client"], acct["v2"]
    one = c._get(f"{v2}/persons/1")["data"]
    assert one["name"] == "Alice Johnson" and one["emails"][0]["primary"] is True
    batch = c._get(f"{v2}/persons", params={"ids": "1,3,5"})["data"]
    assert [p["id"] for p in batch] == [1, 3, 5]
    v1 = c.persons.get_person(1)["data"]
    assert v1["owner_id"]["id"] == one["owner_id"] and v1["email"][0]["value"] == one["emails"][0]["value"]


def test_cursor_paging_and_changed_since(acct):
    c, v2 = acct["client"], acct["v2"]
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = c._get(f"{v2}/persons", params=params)
        seen += [p["id"] for p in page["data"]]
        cursor = page["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 31))
    c._patch(f"{v2}/persons/4", json={"name": "Bobby Smith"})
    changed = c._get(f"{v2}/persons", params={"updated_since": "2026-01-01T00:00:00Z"})["data"]
    assert [p["id"] for p in changed] == [4]
    newest = c._get(f"{v2}/persons", params={"sort_by": "update_time", "sort_direction": "desc", "limit": 1})
    assert newest["data"][0]["id"] == 4


def test_search_duplicate_candidates(acct):
    c, v2 = acct["client"], acct["v2"]
    by_email = c._get(f"{v2}/persons/search", params={"term": "alice.johnson@northwind.example",
                                                       "fields": "email", "exact_match": "true"})
    assert sorted(i["item"]["id"] for i in by_email["data"]["items"]) == [1, 2]  # case-insensitive
    by_phone = c._get(f"{v2}/persons/search", params={"term": "512-555-0142", "fields": "phone"})
    assert {i["item"]["name"] for i in by_phone["data"]["items"]} == {"Robert Smith", "Bob Smith"}
    by_name = c._get(f"{v2}/persons/search", params={"term": "Smith", "fields": "name", "limit": 2})
    assert len(by_name["data"]["items"]) == 2 and by_name["additional_data"]["next_cursor"]
    rest = c._get(f"{v2}/persons/search", params={"term": "Smith", "fields": "name", "limit": 2,
                                                  "cursor": by_name["additional_data"]["next_cursor"]})
    assert len(rest["data"]["items"]) == 1 and rest["additional_data"]["next_cursor"] is None
    with pytest.raises(exceptions.BadRequestError):
        c._get(f"{v2}/persons/search", params={"term": "a"})


def test_find_organization_by_domain_with_owner(acct):
    c, v2 = acct["client"], acct["v2"]
    fields = c._get(acct["api_base"] + "/api/v1/organizationFields")["data"]
    website = next(f["key"] for f in fields if f["name"] == "Website")
    hits = c._get(f"{v2}/organizations/search", params={"term": "initech.example", "fields": "custom_fields",
                                                        "exact_match": "true"})["data"]["items"]
    assert [h["item"]["name"] for h in hits] == ["Initech Software"]
    org = c._get(f"{v2}/organizations/{hits[0]['item']['id']}")["data"]
    assert org["custom_fields"][website] == "initech.example" and org["owner_id"] == hits[0]["item"]["owner"]["id"]
    by_name = c._get(f"{v2}/organizations/search", params={"term": "Globex", "fields": "name"})["data"]["items"]
    assert by_name[0]["item"]["name"] == "Globex Logistics"


def test_set_owner(acct):
    c, v2 = acct["client"], acct["v2"]
    ben = next(u for u in c.users.get_all_users()["data"] if u["email"] == "ben@acme.example")
    c._patch(f"{v2}/persons/9", json={"owner_id": ben["id"]})
    assert c._get(f"{v2}/persons/9")["data"]["owner_id"] == ben["id"]
    with pytest.raises(exceptions.BadRequestError):
        c._patch(f"{v2}/persons/9", json={"owner_id": 1})


def test_task_create_complete_and_logged_activity(acct):
    c, v2 = acct["client"], acct["v2"]
    task = c._post(f"{v2}/activities", json={"subject": "Call back", "type": "task", "due_date": "2026-12-01",
                                             "due_time": "09:30", "participants": [{"person_id": 3,
                                                                                    "primary": True}]})["data"]
    assert task["person_id"] == 3 and task["done"] is False
    c._patch(f"{v2}/activities/{task['id']}", json={"subject": "Call back Robert"})
    done = c._patch(f"{v2}/activities/{task['id']}", json={"done": True})["data"]
    assert done["done"] is True and done["marked_as_done_time"]
    assert c._get(f"{v2}/activities/{task['id']}")["data"]["subject"] == "Call back Robert"
    calls = c._get(f"{v2}/activities", params={"person_id": 1, "done": "true"})["data"]
    assert [a["type"] for a in calls] == ["call"]
    with pytest.raises(exceptions.BadRequestError):
        c._post(f"{v2}/activities", json={"type": "task", "person_id": 3})


def test_merge_keeps_survivor_and_removes_loser(acct):
    c, v2 = acct["client"], acct["v2"]
    # person 5 "Robert Smith" (no org) is merged into person 3 (org Acme): merge_with_id=3 survives
    c._post(f"{v2}/activities", json={"type": "call", "participants": [{"person_id": 5, "primary": True}]})
    note = c._post(acct["api_base"] + "/api/v1/notes", json={"content": "Met at the fair", "person_id": 5})["data"]
    merged = c._put(acct["api_base"] + "/api/v1/persons/5/merge", json={"merge_with_id": 3})["data"]
    assert merged["id"] == 3
    with pytest.raises(exceptions.NotFoundError):
        c._get(f"{v2}/persons/5")
    survivor = c._get(f"{v2}/persons/3")["data"]
    assert survivor["emails"][0]["value"] == "robert.smith@acme-robotics.example"  # survivor's value wins
    assert c._get(f"{v2}/activities", params={"person_id": 3})["data"]  # the loser's activity moved over
    assert c._get(acct["api_base"] + f"/api/v1/notes/{note['id']}")["data"]["person_id"] == 3  # its note too


def test_deal_stage_and_organization_update(acct):
    c, v2 = acct["client"], acct["v2"]
    deal = c._patch(f"{v2}/deals/1", json={"stage_id": 4})["data"]
    assert deal["stage_id"] == 4 and deal["pipeline_id"] == 1 and deal["stage_change_time"]
    won = c._patch(f"{v2}/deals/1", json={"status": "won"})["data"]
    assert won["won_time"] and won["close_time"]
    with pytest.raises(exceptions.BadRequestError):
        c._patch(f"{v2}/deals/1", json={"stage_id": 99})


def test_leads_v1(acct):
    c = acct["client"]
    lead = c.leads.create_lead({"title": "Inbound demo", "person_id": 1, "owner_id": c.users.get_me()["data"]["id"]})
    lead_id = lead["data"]["id"]
    assert len(lead_id) == 36 and lead["data"]["source_name"] == "API"
    c.leads.update_lead(lead_id, {"title": "Inbound demo (qualified)"})
    assert c.leads.get_lead(lead_id)["data"]["title"] == "Inbound demo (qualified)"
    assert any(ld["id"] == lead_id for ld in c.leads.get_all_leads()["data"])
    with pytest.raises(exceptions.BadRequestError):
        c.leads.create_lead({"title": "orphan"})


def test_v1_person_wrappers(acct):
    c = acct["client"]
    created = c.persons.create_person({"name": "Nina New", "email": "nina@new.example", "phone": "+1 555 0100"})
    pid = created["data"]["id"]
    c.persons.update_person(pid, {"name": "Nina Newer"})
    found = c.persons.search_persons(params={"term": "nina@new.example", "fields": "email"})["data"]["items"]
    assert [i["item"]["name"] for i in found] == ["Nina Newer"]
    c.persons.delete_person(pid)
    with pytest.raises(exceptions.NotFoundError):
        c.persons.get_person(pid)


def test_errors_and_auth(acct, pd_server):
    c, v2 = acct["client"], acct["v2"]
    with pytest.raises(exceptions.NotFoundError) as err:
        c._get(f"{v2}/persons/9999")
    assert err.value.response.json()["error"] == "Entity was not found"
    bad = Client(domain=acct["api_base"] + "/api/")
    bad.set_access_token("not-a-token")
    with pytest.raises(exceptions.UnauthorizedError):
        bad.users.get_me()
    expired = new_account(pd_server, "pipedrive", USERS, token_ttl=0.001)
    late = Client(domain=expired["api_base"] + "/api/")
    late.set_access_token(expired["access_token"])
    with pytest.raises(exceptions.UnauthorizedError):
        late.users.get_me()


def test_burst_limit_answers_429_with_headers(acct, pd_server):
    c, v2 = acct["client"], acct["v2"]
    pd_server.sandbox.config.update({"limits": {"pipedrive": {"burst_per_2s": 3}}})
    first = requests.get(f"{v2}/persons/1", headers={"Authorization": f"Bearer {acct['access_token']}"},
                         timeout=10)
    assert first.headers["x-ratelimit-limit"] == "3" and first.headers["x-ratelimit-remaining"] == "2"
    c._get(f"{v2}/persons/1")
    c._get(f"{v2}/persons/1")
    with pytest.raises(exceptions.TooManyRequestsError) as err:
        c._get(f"{v2}/persons/1")
    resp = err.value.response
    assert resp.status_code == 429 and resp.headers["x-ratelimit-remaining"] == "0"
    assert {"x-ratelimit-limit", "x-ratelimit-reset"} <= set(resp.headers) and resp.json()["success"] is False


def test_daily_token_budget_and_v2_cheaper_than_v1(acct, pd_server):
    c, v2 = acct["client"], acct["v2"]
    pd_server.sandbox.config.update({"limits": {"pipedrive": {"daily_tokens": 2}}})
    c._get(f"{v2}/persons/1")  # v2 get costs 1 token
    with pytest.raises(exceptions.TooManyRequestsError):
        c.persons.get_person(1)  # v1 get costs 2: 1 + 2 > 2
    c._get(f"{v2}/persons/1")
    with pytest.raises(exceptions.TooManyRequestsError) as err:
        c._get(f"{v2}/persons/1")
    assert err.value.response.json()["error"] == "Request over limit"


def _shape(value):
    """Keys (recursively) of a JSON value; lists are described by their first element."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def _keys_subset(doc, ours, path="") -> list[str]:
    """Every key of the documented example must be in our answer (our extra keys are allowed)."""
    missing = []
    if isinstance(doc, dict) and isinstance(ours, dict):
        for key, sub in doc.items():
            if key not in ours:
                missing.append(f"{path}.{key}")
            elif ours[key] is not None:
                missing += _keys_subset(sub, ours[key], f"{path}.{key}")
    elif isinstance(doc, list) and isinstance(ours, list) and doc and ours:
        missing += _keys_subset(doc[0], ours[0], path + "[]")
    return missing


CONTACT_SYNC_ONLY = {"notes", "im", "birthday", "job_title", "postal_address"}


@pytest.mark.parametrize("fixture, path, params", [
    ("v2_get_persons.json", "/persons", {"limit": 1}),
    ("v2_get_person.json", "/persons/1", {}),
    ("v2_search_persons.json", "/persons/search", {"term": "Alice", "limit": 1}),
    ("v2_search_organizations.json", "/organizations/search", {"term": "Northwind", "limit": 1}),
    ("v2_get_organizations.json", "/organizations", {"limit": 1}),
    ("v2_error_not_found.json", "/persons/9999", {}),
])
def test_json_shapes_match_the_documented_examples(acct, fixture, path, params):
    doc = json.loads((DOCS / fixture).read_text())
    resp = requests.get(acct["v2"] + path, params=params, timeout=10,
                        headers={"Authorization": f"Bearer {acct['access_token']}"})
    ours = resp.json()
    for row in (doc["data"] if isinstance(doc.get("data"), list) else [doc.get("data") or {}]):
        for key in CONTACT_SYNC_ONLY:  # only sent when the company has contact sync enabled
            row.pop(key, None)
        if "organizations" in fixture:
            row.pop("org_id", None)  # documented example quirk: not in the organization schema
    assert _keys_subset(doc, ours) == []
    assert _shape(ours).keys() == _shape(doc).keys()
