"""The HubSpot sandbox's Properties API: groups and properties created by API, then accepted on records."""
from __future__ import annotations

import requests

from tests.sandbox.conftest import new_account

SCORE = {"name": "leadrelay_score", "label": "LeadRelay score", "type": "number", "fieldType": "number",
         "groupName": "leadrelay"}


def session_for(sandbox, account: dict) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = sandbox.sandbox.ca_file
    http.headers["Authorization"] = f"Bearer {account['access_token']}"
    return http


def test_a_created_property_is_listed_and_accepted_on_contacts(sandbox):
    account = new_account(sandbox, "hubspot")
    http, base = session_for(sandbox, account), account["api_base"].rstrip("/")
    contact = http.post(f"{base}/crm/v3/objects/contacts", json={"properties": {"email": "a@b.example"}}).json()
    refused = http.patch(f"{base}/crm/v3/objects/contacts/{contact['id']}",
                         json={"properties": {"leadrelay_score": "80"}})
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"

    assert http.post(f"{base}/crm/v3/properties/contacts", json=SCORE).status_code == 400  # no such group yet
    group = http.post(f"{base}/crm/v3/properties/contacts/groups", json={"name": "leadrelay", "label": "LeadRelay"})
    assert group.status_code == 201
    created = http.post(f"{base}/crm/v3/properties/contacts", json=SCORE)
    assert created.status_code == 201 and created.json()["hubspotDefined"] is False
    again = http.post(f"{base}/crm/v3/properties/contacts", json=SCORE)
    assert again.status_code == 409 and again.json()["category"] == "OBJECT_ALREADY_EXISTS"

    listed = http.get(f"{base}/crm/v3/properties/contacts").json()["results"]
    assert [p["type"] for p in listed if p["name"] == "leadrelay_score"] == ["number"]
    assert any(p["name"] == "email" and p["hubspotDefined"] for p in listed)
    assert http.get(f"{base}/crm/v3/properties/contacts/leadrelay_score").json()["groupName"] == "leadrelay"

    written = http.patch(f"{base}/crm/v3/objects/contacts/{contact['id']}",
                         json={"properties": {"leadrelay_score": "80"}})
    assert written.status_code == 200
    read = http.get(f"{base}/crm/v3/objects/contacts/{contact['id']}", params={"properties": "leadrelay_score"})
    assert read.json()["properties"]["leadrelay_score"] == "80"


def test_a_bad_type_combination_or_name_is_refused(sandbox):
    account = new_account(sandbox, "hubspot")
    http, base = session_for(sandbox, account), account["api_base"].rstrip("/")
    http.post(f"{base}/crm/v3/properties/contacts/groups", json={"name": "leadrelay", "label": "LeadRelay"})
    assert http.post(f"{base}/crm/v3/properties/contacts", json={**SCORE, "fieldType": "text"}).status_code == 400
    assert http.post(f"{base}/crm/v3/properties/contacts", json={**SCORE, "name": "Bad Name"}).status_code == 400
    assert http.post(f"{base}/crm/v3/properties/contacts", json={**SCORE, "name": "email"}).status_code == 409
