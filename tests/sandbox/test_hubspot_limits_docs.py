"""HubSpot rate limits (burst and search) and documented response shapes."""
from __future__ import annotations

import json
import pathlib

import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from tests.sandbox import hubspot_support as S

DOCS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "sandbox" / "hubspot" / "docs"




def _doc(name: str) -> dict:
    return json.loads((DOCS / name).read_text())


def test_burst_beyond_the_limit_gets_429_with_headers(sandbox):
    sandbox.sandbox.config.update({"limits": {"hubspot": {"burst_per_10s": 3}}})
    acct = S.portal(sandbox)
    api = S.sdk(sandbox, acct["access_token"]).crm.contacts.basic_api
    resp = api.get_page_with_http_info()
    assert resp[2]["X-HubSpot-RateLimit-Max"] == "3" and resp[2]["X-HubSpot-RateLimit-Remaining"] == "2"
    assert resp[2]["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    api.get_page()
    api.get_page()
    with pytest.raises(ApiException) as exc:
        api.get_page()
    body = json.loads(exc.value.body)
    assert exc.value.status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT" and exc.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    other = S.portal(sandbox)  # the window is per account
    assert S.sdk(sandbox, other["access_token"]).crm.contacts.basic_api.get_page().results == []


def test_search_has_its_own_per_second_limit(sandbox):
    sandbox.sandbox.config.update({"limits": {"hubspot": {"search_per_second": 2, "burst_per_10s": 1}}})
    acct = S.portal(sandbox)
    search = S.sdk(sandbox, acct["access_token"]).crm.contacts.search_api
    search.do_search(PublicObjectSearchRequest(limit=1))   # search does not count against the burst limit
    search.do_search(PublicObjectSearchRequest(limit=1))
    with pytest.raises(ApiException) as exc:
        search.do_search(PublicObjectSearchRequest(limit=1))
    body = json.loads(exc.value.body)
    # the body a real search 429 had (a recorded exchange, see sandbox/hubspot/ratelimit.py): no policyName, no
    # errorType, no rate-limit headers; only the message and the endpoint say it is the per-second search limit
    assert exc.value.status == 429 and set(body) == {"status", "message", "correlationId", "category"}
    assert (body["message"], body["category"]) == ("You have reached your secondly limit.", "RATE_LIMITS")
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in exc.value.headers)


def test_search_response_has_the_documented_shape(sandbox, http):
    acct = S.portal(sandbox, seed=True)
    resp = http.post(f"{sandbox.tls_url}/crm/v3/objects/contacts/search", json={"limit": 2},
                     headers={"Authorization": f"Bearer {acct['access_token']}"})
    mine, doc = resp.json(), _doc("search_response.json")
    assert set(mine) == set(doc)
    assert set(mine["paging"]["next"]) == set(doc["paging"]["next"])
    assert set(mine["results"][0]) == set(doc["results"][0])
    assert all(isinstance(v, (str, type(None))) for v in mine["results"][0]["properties"].values())


def test_access_token_metadata_has_the_documented_keys(sandbox, http):
    app = S.register_app(sandbox)
    acct = S.portal(sandbox)
    tokens = S.install_via_oauth(sandbox, app, acct["account_id"])
    mine = http.get(f"{sandbox.tls_url}/oauth/v1/access-tokens/{tokens.access_token}").json()
    doc = _doc("access_token_metadata.json")
    assert set(mine) <= set(doc)
    assert set(doc) - set(mine) == {"signed_access_token"}
    assert all(type(mine[k]) is type(doc[k]) for k in mine)


def test_demo_seed_has_owners_companies_and_duplicates(sandbox):
    acct = S.portal(sandbox, seed=True)
    http = S.control(sandbox)
    get = lambda kind: http.get(f"{sandbox.url}/_sandbox/accounts/{acct['account_id']}/{kind}").json()  # noqa: E731
    owners, companies, contacts = get("owners")["results"], get("companies")["results"], get("contacts")["results"]
    assert len(owners) == 4 and len(companies) == 8 and len(contacts) >= 30
    assert all(c["properties"]["domain"] and c["properties"]["hubspot_owner_id"] for c in companies)
    smiths = [c for c in contacts if c["properties"].get("lastname") == "Smith"]
    assert {c["properties"]["email"] for c in smiths} == {"john.smith@gmail.com", "johnsmith@gmail.com"}
    switchboard = [c for c in contacts if c["properties"].get("phone") == "+1 512 555 0199"]
    assert len({c["properties"]["email"] for c in switchboard}) == 3
    again = S.portal(sandbox, seed=True)
    second = http.get(f"{sandbox.url}/_sandbox/accounts/{again['account_id']}/contacts").json()["results"]
    assert [c["properties"].get("email") for c in second] == [c["properties"].get("email") for c in contacts]
