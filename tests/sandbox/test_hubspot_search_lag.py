"""HubSpot search is eventually consistent: config.search_lag_ms (sandbox/hubspot/search.py has the sources)."""
from __future__ import annotations

import time

from hubspot.crm.contacts import (
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from tests.sandbox import hubspot_support as S

LAG_S = 1.0




def _lagging(sandbox, seed: bool = False):
    sandbox.sandbox.config.update({"search_lag_ms": int(LAG_S * 1000),
                                   "limits": {"hubspot": {"search_per_second": 1000}}})
    return S.sdk(sandbox, S.portal(sandbox, seed=seed)["access_token"]).crm.contacts


def _by_email(contacts, email: str) -> list[tuple[str, str]]:
    req = PublicObjectSearchRequest(filter_groups=[{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": email}]}], properties=["email"])
    return [(r.id, r.properties["email"]) for r in contacts.search_api.do_search(public_object_search_request=req)
            .results]


def test_a_new_record_is_read_at_once_but_found_by_search_only_after_the_lag(sandbox):
    contacts = _lagging(sandbox)
    new = contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "ada@lag.example"}))
    assert _by_email(contacts, "ada@lag.example") == []
    assert contacts.basic_api.get_by_id(new.id).id == new.id
    read = contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=new.id)], properties=["email"], properties_with_history=[]))
    assert [r.id for r in read.results] == [new.id]
    time.sleep(LAG_S + 0.2)
    assert _by_email(contacts, "ada@lag.example") == [(new.id, "ada@lag.example")]


def test_within_the_lag_search_matches_the_values_indexed_before_an_update(sandbox):
    contacts = _lagging(sandbox)
    old = contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "old@lag.example"}))
    time.sleep(LAG_S + 0.2)
    contacts.basic_api.update(old.id, SimplePublicObjectInput(properties={"email": "new@lag.example"}))
    # matched by the old value, answered with the current one (as the recorded real exchange did)
    assert _by_email(contacts, "old@lag.example") == [(old.id, "new@lag.example")]
    assert _by_email(contacts, "new@lag.example") == []
    time.sleep(LAG_S + 0.2)
    assert _by_email(contacts, "old@lag.example") == []
    assert _by_email(contacts, "new@lag.example") == [(old.id, "new@lag.example")]


def test_a_seeded_portal_is_searchable_at_once(sandbox):
    contacts = _lagging(sandbox, seed=True)
    first = contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    assert _by_email(contacts, first.properties["email"]) == [(first.id, first.properties["email"])]


def test_without_a_lag_search_sees_a_write_at_once(sandbox):
    contacts = S.sdk(sandbox, S.portal(sandbox)["access_token"]).crm.contacts
    new = contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "now@lag.example"}))
    assert _by_email(contacts, "now@lag.example") == [(new.id, "now@lag.example")]


def test_a_lag_that_is_not_whole_milliseconds_is_refused(sandbox):
    http = S.control(sandbox)
    for bad in ("3s", -1, 1.5, True):
        resp = http.post(f"{sandbox.url}/_sandbox/config", json={"search_lag_ms": bad}, timeout=10)
        assert resp.status_code == 400 and "search_lag_ms" in resp.json()["error"]
    assert http.get(f"{sandbox.url}/_sandbox/config", timeout=10).json()["search_lag_ms"] == 0
