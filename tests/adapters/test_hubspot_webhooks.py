"""HubSpotWebhooks: v3 signature checks and one parse test per captured fixture (tests/fixtures/hubspot).

Fixtures are raw request bodies captured from the sandbox by tests/fixtures/hubspot/capture.py; they are
signed here at run time with the test client secret (HubSpot signs method + URL + body + timestamp).
"""
from __future__ import annotations

import datetime as dt
import json
import pathlib
from dataclasses import dataclass

import pytest

from adapters.hubspot.webhooks import HubSpotWebhooks
from adapters.registry import get_webhook_parser
from integration.errors import PayloadError
from integration.records import Event
from sandbox.hubspot.signature import signed_headers

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hubspot"
SECRET = "test-client-secret"
URL = "https://leadrelay.test/webhooks/hubspot"
NOW = dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.UTC)
UTC = dt.UTC


@dataclass
class Req:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def signed_webhook(name: str, *, secret: str = SECRET, at: dt.datetime = NOW, url: str = URL,
                   body: bytes | None = None) -> Req:
    """The fixture's exact bytes as HubSpot would post them, with v3 signature headers for `at`."""
    raw = body if body is not None else (FIXTURES / f"{name}.json").read_bytes()
    return Req("POST", url, signed_headers(secret, url, raw, str(int(at.timestamp() * 1000))), raw)


@pytest.fixture()
def parser(monkeypatch) -> HubSpotWebhooks:
    monkeypatch.setenv("HUBSPOT_APP_ID", "4242")
    return HubSpotWebhooks()


def parsed(parser: HubSpotWebhooks, name: str) -> list[Event]:
    return parser.parse(signed_webhook(name)).events


def at_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, UTC)


# signature checks -------------------------------------------------------------------------
def test_good_signature_verifies(parser):
    assert parser.verify(signed_webhook("contact.creation__ui"), SECRET, NOW) is True


def test_signature_with_another_secret_is_refused(parser):
    assert parser.verify(signed_webhook("contact.creation__ui", secret="other"), SECRET, NOW) is False


def test_tampered_body_is_refused(parser):
    req = signed_webhook("contact.creation__ui")
    req.body = req.body.replace(b'"objectId":107', b'"objectId":108')
    assert parser.verify(req, SECRET, NOW) is False


def test_stale_timestamp_is_refused(parser):
    old = signed_webhook("contact.creation__ui", at=NOW - dt.timedelta(minutes=5, seconds=1))
    assert parser.verify(old, SECRET, NOW) is False
    assert parser.verify(signed_webhook("contact.creation__ui", at=NOW - dt.timedelta(minutes=4)), SECRET, NOW)


def test_url_signed_with_decoded_characters_verifies(parser):
    req = signed_webhook("contact.creation__ui", url="https://leadrelay.test/webhooks/hubspot?x=a:b")
    req.url = "https://leadrelay.test/webhooks/hubspot?x=a%3Ab"
    assert parser.verify(req, SECRET, NOW) is True


def test_missing_signature_headers_are_named(parser):
    req = signed_webhook("contact.creation__ui")
    assert parser.missing_signature(req) is None
    del req.headers["X-HubSpot-Request-Timestamp"]
    assert parser.missing_signature(req) == "X-HubSpot-Request-Timestamp"
    del req.headers["X-HubSpot-Signature-v3"]
    assert parser.missing_signature(req) == "X-HubSpot-Signature-v3"


def test_header_names_are_case_insensitive(parser):
    req = signed_webhook("contact.creation__ui")
    req.headers = {k.title(): v for k, v in req.headers.items()}  # as Flask/werkzeug hands them over
    assert parser.missing_signature(req) is None and parser.verify(req, SECRET, NOW)


# malformed bodies -------------------------------------------------------------------------
def test_body_that_is_not_json_is_a_payload_error(parser):
    with pytest.raises(PayloadError) as err:
        parser.parse(signed_webhook("x", body=b"[{"))
    assert err.value.path == "$"


def test_body_that_is_not_an_array_is_a_payload_error(parser):
    with pytest.raises(PayloadError) as err:
        parser.parse(signed_webhook("x", body=b'{"eventId": 1}'))
    assert err.value.path == "$"


def test_an_item_that_is_not_an_object_is_a_payload_error(parser):
    with pytest.raises(PayloadError) as err:
        parser.parse(signed_webhook("x", body=b'[{"eventId": 1}, 7]'))
    assert (err.value.path, err.value.problem) == ("[1]", "expected an object")


def test_an_item_missing_a_field_is_set_aside_and_the_others_kept(parser):
    # one item LeadRelay cannot read never costs the batch: HubSpot would retry all of it for a day
    events = json.loads((FIXTURES / "contact.creation__batch_of_3.json").read_bytes())
    del events[2]["objectId"]
    delivery = parser.parse(signed_webhook("x", body=json.dumps(events).encode()))
    assert [e.object_id for e in delivery.events] == ["194", "195"]
    assert delivery.unreadable == [("[2].objectId", "missing")]


def test_wrong_typed_field_names_its_path(parser):
    events = json.loads((FIXTURES / "contact.merge__ui.json").read_bytes())
    events[0]["occurredAt"] = "yesterday"
    delivery = parser.parse(signed_webhook("x", body=json.dumps(events).encode()))
    assert (delivery.events, delivery.unreadable) == ([], [("[0].occurredAt", "expected epoch milliseconds, got str")])


@pytest.mark.parametrize(("field", "value"), [
    ("occurredAt", 10**20), ("occurredAt", -1), ("objectId", 10**30), ("objectId", -5), ("portalId", "12\u000034"),
    ("eventId", "x" * 65), ("changeSource", "CRM_UI\u0000"), ("subscriptionType", "contact." + "a" * 300),
])
def test_out_of_range_field_is_set_aside_not_an_overflow(parser, field, value):
    events = json.loads((FIXTURES / "contact.creation__ui.json").read_bytes())
    events[0][field] = value
    delivery = parser.parse(signed_webhook("x", body=json.dumps(events).encode()))
    assert delivery.events == [] and [path for path, _ in delivery.unreadable] == [f"[0].{field}"]


def test_absurdly_deep_json_is_a_payload_error(parser):
    with pytest.raises(PayloadError) as err:
        parser.parse(signed_webhook("x", body=b"[" * 100_000 + b"]" * 100_000))
    assert (err.value.path, err.value.problem) == ("$", "not JSON: nested too deeply")


@pytest.mark.parametrize("stamp", [str(10**20), "\u00b2", "1" * 5000, "-1"])
def test_absurd_timestamp_header_is_refused_not_an_error(parser, stamp):
    req = signed_webhook("contact.creation__ui")
    req.headers["X-HubSpot-Request-Timestamp"] = stamp
    assert parser.verify(req, SECRET, NOW) is False


def test_non_ascii_signature_header_is_refused_not_an_error(parser):
    req = signed_webhook("contact.creation__ui")
    req.headers["X-HubSpot-Signature-v3"] = "\u00e9t\u00e9"
    assert parser.verify(req, SECRET, NOW) is False


# one test per fixture ---------------------------------------------------------------------
def test_contact_creation_ui(parser):
    assert parsed(parser, "contact.creation__ui") == [Event(
        platform="hubspot", account_id="20000002", object_type="contact", object_id="107", kind="created",
        occurred_at=at_ms(1795496039160), event_id="1", source="CRM_UI:userId:9000003")]


def test_contact_creation_batch_of_3_via_api(parser):
    events = parsed(parser, "contact.creation__batch_of_3")
    assert [(e.object_id, e.kind, e.event_id, e.source, e.source_is_app) for e in events] == [
        ("194", "created", "14", "API", False), ("195", "created", "15", "API", False),
        ("196", "created", "16", "API", False)]
    assert {e.account_id for e in events} == {"20000089"}


def test_contact_owner_change_ui(parser):
    assert parsed(parser, "contact.propertyChange__hubspot_owner_id_ui") == [Event(
        platform="hubspot", account_id="20000009", object_type="contact", object_id="114", kind="updated",
        occurred_at=at_ms(1795496039179), event_id="2", source="CRM_UI:userId:9000010",
        changed_fields=("owner",))]


def test_contact_change_by_our_own_app_is_recognised(parser):
    [event] = parsed(parser, "contact.propertyChange__own_write")
    assert (event.object_id, event.source, event.source_is_app, event.changed_fields) == (
        "202", "INTEGRATION:4242", True, ("lifecycle_stage",))


def test_own_write_needs_our_app_id(monkeypatch):
    monkeypatch.setenv("HUBSPOT_APP_ID", "999")
    assert parsed(HubSpotWebhooks(), "contact.propertyChange__own_write")[0].source_is_app is False
    monkeypatch.delenv("HUBSPOT_APP_ID")
    assert parsed(HubSpotWebhooks(), "contact.propertyChange__own_write")[0].source_is_app is False


def test_contact_deletion_ui(parser):
    [event] = parsed(parser, "contact.deletion__ui")
    assert (event.account_id, event.object_type, event.object_id, event.kind, event.event_id) == (
        "20000016", "contact", "121", "deleted", "3")


def test_contact_merge_ui(parser):
    # the merged record is new (newObjectId 130): the primary 128 and the merged 129 are both gone
    [event] = parsed(parser, "contact.merge__ui")
    assert (event.object_type, event.object_id, event.kind, event.merged_ids, event.event_id) == (
        "contact", "130", "merged", ("128", "129"), "4")


def test_company_creation_ui(parser):
    [event] = parsed(parser, "company.creation__ui")
    assert (event.account_id, event.object_type, event.object_id, event.kind) == (
        "20000031", "company", "136", "created")


def test_company_lifecycle_change_ui(parser):
    [event] = parsed(parser, "company.propertyChange__lifecyclestage_ui")
    assert (event.object_type, event.object_id, event.kind, event.changed_fields) == (
        "company", "143", "updated", ("lifecycle_stage",))


def test_company_deletion_ui(parser):
    [event] = parsed(parser, "company.deletion__ui")
    assert (event.object_type, event.object_id, event.kind) == ("company", "150", "deleted")


def test_company_merge_ui(parser):
    [event] = parsed(parser, "company.merge__ui")
    assert (event.object_type, event.object_id, event.kind, event.merged_ids) == (
        "company", "160", "merged", ("158", "159"))


def test_deal_creation_ui(parser):
    [event] = parsed(parser, "deal.creation__ui")
    assert (event.object_type, event.object_id, event.kind, event.occurred_at) == (
        "deal", "165", "created", at_ms(1795496039295))


def test_deal_stage_change_ui(parser):
    [event] = parsed(parser, "deal.propertyChange__dealstage_ui")
    assert (event.object_type, event.object_id, event.kind, event.changed_fields) == (
        "deal", "172", "updated", ("deal_stage",))


def test_deal_deletion_ui(parser):
    [event] = parsed(parser, "deal.deletion__ui")
    assert (event.object_type, event.object_id, event.kind) == ("deal", "179", "deleted")


def test_deal_merge_ui(parser):
    [event] = parsed(parser, "deal.merge__ui")
    assert (event.object_type, event.object_id, event.kind, event.merged_ids) == (
        "deal", "190", "merged", ("188", "189"))


def test_task_creation(parser):
    [event] = parsed(parser, "object.creation__task")
    assert (event.object_type, event.object_id, event.kind, event.event_id) == ("task", "209", "created", "18")


def test_task_completed(parser):
    [event] = parsed(parser, "object.propertyChange__task_completed")
    assert (event.object_type, event.object_id, event.kind, event.changed_fields) == (
        "task", "216", "updated", ("status",))


def test_task_deletion(parser):
    [event] = parsed(parser, "object.deletion__task")
    assert (event.object_type, event.object_id, event.kind) == ("task", "223", "deleted")


def test_logged_call_is_ignored(parser):
    delivery = parser.parse(signed_webhook("object.creation__call"))
    assert (delivery.events, delivery.ignored, delivery.unsupported) == ([], ["object.creation:call"], [])


def test_hubspot_leads_object_is_unsupported(parser):
    delivery = parser.parse(signed_webhook("object.creation__lead"))
    assert (delivery.events, delivery.ignored, delivery.unsupported) == ([], [], ["object.creation:lead"])


# the table --------------------------------------------------------------------------------
def test_every_event_kind_has_a_fixture(parser):
    captured = {parser.event_name(item, 0) for path in FIXTURES.glob("*.json")
                for item in json.loads(path.read_bytes())}
    assert set(HubSpotWebhooks.EVENT_KINDS) <= captured
    assert HubSpotWebhooks.SUPPORTED_EVENTS == tuple(HubSpotWebhooks.EVENT_KINDS)
    assert not set(HubSpotWebhooks.EVENT_KINDS) & HubSpotWebhooks.IGNORED_EVENTS


def test_registry_gives_the_parser_and_success_is_a_plain_200():
    parser = get_webhook_parser("hubspot")
    assert isinstance(parser, HubSpotWebhooks) and parser.SECRET_SCOPE == "app"
    assert parser.credentials(signed_webhook("contact.creation__ui")) is None
    assert parser.acknowledge(parser.parse(signed_webhook("contact.creation__ui"))) == (200, "", "text/plain")
