"""HubSpotAdapter's outreach calls (adapters/hubspot/outreach.py) against HubSpot's OpenAPI documents, where the set
has them: emails and meetings are judged by the calls document (the set has none of their own), the association
batch read by crm-associations-v4. Not in the set, so not checked here: communications (SMS), the communication
preferences API (set_do_not_contact) and the sequences API (send_email); tests/adapters/test_hubspot_outreach.py
covers their behaviour.

| LeadRelay call | operation | doc | answers checked |
|---|---|---|---|
| log_message (email) | POST objects/emails | calls (stands in) | 201 |
| inbound_since, meetings_since | POST objects/{emails,meetings}/search | calls (stands in) | 200 |
| inbound_since, meetings_since | POST /crm/v4/associations/{from}/{to}/batch/read | associations v4 | 200 |
"""
from __future__ import annotations

import datetime as dt

import pytest

from adapters.hubspot import outreach as o
from integration.records import Message
from tests.contracts.deviations import HUBSPOT_NULL_PROPERTIES
from tests.contracts.openapi import check
from tests.contracts.test_hubspot_contract import DOCS, api, first_ids

NULLS = (HUBSPOT_NULL_PROPERTIES,)
ASSOCIATIONS = "hubspot/crm-associations-v4.json"


def _client(sdk):
    return api(sdk, "owners", "owners_api").api_client  # as HubSpotClient.call_path sends


def _email(sdk, hs, contact: str) -> str:
    message = Message(channel="email", direction="outbound", subject="Hello", body="Thanks", to="a@b.example",
                      sender="rep@acme.test", sent_at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC))
    target, body = o.message_input(contact, message)
    answer = hs.raw(_client(sdk), "POST", f"/crm/v3/objects/{target}", body=body)
    check(answer, DOCS["calls"], "POST", "/crm/v3/objects/calls", allow=NULLS, expect=201,
          requested="/crm/v3/objects/emails")
    return answer.body["id"]


def test_logged_email(hubspot_sdk, hs):
    _email(hubspot_sdk, hs, first_ids(hubspot_sdk, hs, "contacts", 1)[0])


@pytest.mark.parametrize(("target", "inbound"), [("emails", True), ("meetings", False)])
def test_since_search(hubspot_sdk, hs, target, inbound):
    answer = hs.raw(_client(hubspot_sdk), "POST", f"/crm/v3/objects/{target}/search",
                    body=o.since_request(0, 100, inbound))
    check(answer, DOCS["calls"], "POST", "/crm/v3/objects/calls/search", allow=NULLS, expect=200,
          requested=f"/crm/v3/objects/{target}/search")


def test_association_batch_read(hubspot_sdk, hs):
    email = _email(hubspot_sdk, hs, first_ids(hubspot_sdk, hs, "contacts", 1)[0])
    answer = hs.raw(_client(hubspot_sdk), "POST", "/crm/v4/associations/emails/contacts/batch/read",
                    body={"inputs": [{"id": email}]})
    check(answer, ASSOCIATIONS, "POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
          expect=200)
    assert len(answer.body["results"]) == 1
