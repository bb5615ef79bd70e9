"""The Pipedrive sandbox's personFields (v1): created fields get hash keys and persons carry their values (v2)."""
from __future__ import annotations

import requests

from tests.sandbox.conftest import new_account

USERS = [{"email": "ann@acme.example", "name": "Ann Admin"}]


def session_for(sandbox, account: dict) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = sandbox.sandbox.ca_file
    http.headers["Authorization"] = f"Bearer {account['access_token']}"
    return http


def test_a_created_person_field_is_listed_with_its_key_and_kept_on_persons(sandbox):
    account = new_account(sandbox, "pipedrive", users=USERS)
    http, base = session_for(sandbox, account), account["api_base"].rstrip("/")
    before = http.get(f"{base}/api/v1/personFields").json()["data"]
    assert {f["key"] for f in before} >= {"name", "email", "phone", "owner_id"}

    created = http.post(f"{base}/api/v1/personFields", json={"name": "LeadRelay score", "field_type": "double"})
    assert created.status_code == 200  # the v1 document publishes only 200 for addPersonField
    key = created.json()["data"]["key"]
    assert len(key) == 40 and created.json()["data"]["edit_flag"] is True
    listed = http.get(f"{base}/api/v1/personFields").json()["data"]
    assert [f["field_type"] for f in listed if f["key"] == key] == ["double"]

    person = http.post(f"{base}/api/v2/persons", json={"name": "Grace Hopper"}).json()["data"]
    http.patch(f"{base}/api/v2/persons/{person['id']}", json={"custom_fields": {key: 72}}).raise_for_status()
    assert http.get(f"{base}/api/v2/persons/{person['id']}").json()["data"]["custom_fields"][key] == 72


def test_a_person_field_needs_a_name_and_a_known_type(sandbox):
    account = new_account(sandbox, "pipedrive", users=USERS)
    http, base = session_for(sandbox, account), account["api_base"].rstrip("/")
    assert http.post(f"{base}/api/v1/personFields", json={"field_type": "varchar"}).status_code == 400
    assert http.post(f"{base}/api/v1/personFields", json={"name": "X", "field_type": "blob"}).status_code == 400
