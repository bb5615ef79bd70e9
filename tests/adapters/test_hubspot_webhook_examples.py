"""HubSpot's documented webhook payloads, each quoted with where it was found, run through the parser.

The per-fixture tests (test_hubspot_webhooks.py) use bodies captured from the sandbox; these are the vendor's own
examples (or, where the vendor's page could only be read through a third party, that party's verbatim copy, said
so). No vendor example body of a merge event was found: the merge examples are assembled from the documented field
list (https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks) on the docs' base event, and say
so. One item the parser cannot read or does not know is set aside with its reason; the others are kept.
"""
from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

from adapters.hubspot.webhooks import HubSpotWebhooks
from integration.records import Event

DOCS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "sandbox" / "hubspot" / "docs"

# https://legacydocs.hubspot.com/docs/faq/v1-request-validation (also developers.hubspot.com/docs/faq/...): the
# request body of the v1 signature example, stored verbatim in tests/fixtures/sandbox/hubspot/docs.
V1_VALIDATION = json.loads((DOCS / "webhook_v1_validation_example.json").read_text())["request_body"]

# The legacy webhooks overview's example (https://legacydocs.hubspot.com/docs/methods/webhooks/webhooks-overview),
# which names the type `eventType`; read here as two integrations quote it verbatim (2nd-hand, found with the code
# search): the property change as the "Sample Output" of a workflow tool's HubSpot "Subscribe" trigger docs, the
# creation in the README of a HubSpot webhook receiver (Java, in Portuguese).
LEGACY_PROPERTY_CHANGE = """[
    {
        "objectId": 1246965,
        "propertyName": "lifecyclestage",
        "propertyValue": "subscriber",
        "changeSource": "ACADEMY",
        "eventId": 3816279340,
        "subscriptionId": 25,
        "portalId": 33,
        "appId": 1160452,
        "occurredAt": 1462216307945,
        "eventType":"contact.propertyChange",
        "attemptNumber": 0
   }
]"""
LEGACY_CREATION = """[
    {
        "objectId": 1246978,
        "changeSource": "IMPORT",
        "eventId": 3816279480,
        "subscriptionId": 22,
        "portalId": 33,
        "appId": 1160452,
        "occurredAt": 1462216307945,
        "eventType": "contact.creation",
        "attemptNumber": 0
    }
]"""

# A current v3 delivery as Prismatic publishes it from HubSpot (2nd-hand):
# https://prismatic.io/docs/example-payloads/hubspot/triggers/webhook.json (body.data)
PRISMATIC_CREATION = """[
        {
          "eventId": 567890123,
          "subscriptionId": 234567,
          "portalId": 12345678,
          "appId": 987654,
          "occurredAt": 1708986598741,
          "subscriptionType": "contact.creation",
          "attemptNumber": 0,
          "objectId": 65059681032,
          "changeFlag": "CREATED",
          "changeSource": "CRM_UI",
          "sourceId": "userId:45678"
        }
      ]"""

# The docs' base event (LEGACY_CREATION's fields, subscriptionType as today) with the merge fields of
# https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks: primaryObjectId, mergedObjectIds,
# newObjectId ("the Id of the object that was created from the result of the merge"), numberOfPropertiesMoved.
# ASSEMBLED: no vendor example body of a merge was found.
MERGE_NEW_ID = """[{"objectId": 1246965, "changeSource": "CRM_UI", "eventId": 3816279481, "subscriptionId": 23,
 "portalId": 33, "appId": 1160452, "occurredAt": 1462216307945, "subscriptionType": "contact.merge",
 "attemptNumber": 0, "primaryObjectId": 1246965, "mergedObjectIds": [1246978], "newObjectId": 1247001,
 "numberOfPropertiesMoved": 4}]"""
# The same before HubSpot's merge update (developer changelog "Updated merge functionality for contacts and
# companies"): the primary kept its id, so newObjectId was the primary's. ASSEMBLED as above.
MERGE_PRIMARY_KEPT = MERGE_NEW_ID.replace('"newObjectId": 1247001', '"newObjectId": 1246965')
# contact.privacyDeletion is a documented hubEvents subscription type
# (https://developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks); its body here is
# the docs' base event with that type. ASSEMBLED: no vendor example body was found.
PRIVACY_DELETION = LEGACY_CREATION.replace('"eventType": "contact.creation"',
                                           '"subscriptionType": "contact.privacyDeletion"')


class Req:
    method, url, headers = "POST", "https://leadrelay.test/webhooks/hubspot", {}

    def __init__(self, body: str) -> None:
        self.body = body.encode()


@pytest.fixture()
def parser(monkeypatch) -> HubSpotWebhooks:
    monkeypatch.delenv("HUBSPOT_APP_ID", raising=False)
    return HubSpotWebhooks()


def at_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def test_v1_validation_example(parser):
    assert parser.parse(Req(V1_VALIDATION)).events == [Event(
        platform="hubspot", account_id="62515", object_type="contact", object_id="123", kind="created",
        occurred_at=at_ms(1564113600000), event_id="1", source="CRM")]


def test_legacy_event_type_property_change(parser):
    assert parser.parse(Req(LEGACY_PROPERTY_CHANGE)).events == [Event(
        platform="hubspot", account_id="33", object_type="contact", object_id="1246965", kind="updated",
        occurred_at=at_ms(1462216307945), event_id="3816279340", source="ACADEMY",
        changed_fields=("lifecycle_stage",))]


def test_legacy_event_type_creation(parser):
    assert parser.parse(Req(LEGACY_CREATION)).events == [Event(
        platform="hubspot", account_id="33", object_type="contact", object_id="1246978", kind="created",
        occurred_at=at_ms(1462216307945), event_id="3816279480", source="IMPORT")]


def test_current_creation_with_change_flag_and_source_id(parser):
    assert parser.parse(Req(PRISMATIC_CREATION)).events == [Event(
        platform="hubspot", account_id="12345678", object_type="contact", object_id="65059681032", kind="created",
        occurred_at=at_ms(1708986598741), event_id="567890123", source="CRM_UI:userId:45678")]


def test_merge_into_a_new_record_reports_both_old_ids_as_gone(parser):
    [event] = parser.parse(Req(MERGE_NEW_ID)).events
    assert (event.object_id, event.kind, event.merged_ids) == ("1247001", "merged", ("1246965", "1246978"))


def test_merge_before_the_update_keeps_the_primary(parser):
    [event] = parser.parse(Req(MERGE_PRIMARY_KEPT)).events
    assert (event.object_id, event.kind, event.merged_ids) == ("1246965", "merged", ("1246978",))


def test_privacy_deletion_is_set_aside_as_unsupported_and_the_batch_kept(parser):
    body = json.dumps([*json.loads(PRIVACY_DELETION), *json.loads(LEGACY_CREATION)])
    delivery = parser.parse(Req(body))
    assert [e.object_id for e in delivery.events] == ["1246978"]
    assert (delivery.unsupported, delivery.unreadable) == (["contact.privacyDeletion"], [])


def test_one_unreadable_item_among_documented_ones_is_set_aside_with_its_reason(parser):
    broken = {**json.loads(LEGACY_CREATION)[0], "objectId": "not an id \u0000"}
    del broken["portalId"]
    body = json.dumps([*json.loads(PRISMATIC_CREATION), broken, *json.loads(MERGE_NEW_ID)])
    delivery = parser.parse(Req(body))
    assert [(e.object_id, e.kind) for e in delivery.events] == [("65059681032", "created"), ("1247001", "merged")]
    assert delivery.unreadable == [("[1].objectId", "expected an id (0 to 9223372036854775807, or up to 64 "
                                                    "characters)")]
