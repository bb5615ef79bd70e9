"""SalesforceWebhooks against Outbound Messages captured byte-exact from the sandbox (fixtures/salesforce/)."""
from __future__ import annotations

import datetime as dt
import pathlib
from dataclasses import dataclass, field

import pytest

from adapters.registry import get_webhook_parser
from adapters.salesforce.webhooks import SalesforceWebhooks
from integration.errors import PayloadError
from integration.records import Event
from sandbox.salesforce.outbound import acked

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
URL = "https://leadrelay.example/webhooks/salesforce/whk_capture/capture-secret"
ORG = "00D8d0000000001EAA"
UI_USER = "0058d0000000003AAA"
INTEGRATION_USER = "0058d0000000002AAA"  # the user whose token the app holds (tenant settings integration_user_id)


@dataclass
class Raw:
    body: bytes
    url: str = URL
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/xml; charset=utf-8"})


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.xml").read_bytes()


def parse(name: str, body: bytes | None = None):
    return SalesforceWebhooks().parse(Raw(body if body is not None else fixture(name)))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def event(object_type: str, object_id: str, kind: str, occurred: str, event_id: str, source: str = UI_USER):
    return Event(platform="salesforce", account_id=ORG, object_type=object_type, object_id=object_id, kind=kind,
                 occurred_at=at(occurred), event_id=event_id, source=source)


EXPECTED = {
    "Lead.created__ui": event("lead", "00Q8d000000000pEAA", "created", "2026-11-24T04:58:50.613+00:00",
                              "04l8d000000000qAAA"),
    "Lead.updated__ui_status": event("lead", "00Q8d000000000aEAA", "updated", "2026-11-24T04:58:50.614+00:00",
                                     "04l8d000000000rAAA"),
    "Lead.updated__merge_master": event("lead", "00Q8d000000000XEAQ", "updated", "2026-11-24T04:58:50.616+00:00",
                                        "04l8d000000000sAAA"),
    "Lead.updated__own_write": event("lead", "00Q8d000000000bEAA", "updated", "2026-11-24T04:58:50.633+00:00",
                                     "04l8d000000000tAAA", source=INTEGRATION_USER),
    "Contact.created__ui": event("contact", "0038d000000000uAAA", "created", "2026-11-24T04:58:50.656+00:00",
                                 "04l8d000000000vAAA"),
    "Contact.updated__ui_title": event("contact", "0038d000000000EAAQ", "updated", "2026-11-24T04:58:50.663+00:00",
                                       "04l8d000000000wAAA"),
    "Account.created__ui": event("company", "0018d000000000xAAA", "created", "2026-11-24T04:58:50.686+00:00",
                                 "04l8d000000000yAAA"),
    "Account.updated__ui_owner": event("company", "0018d0000000007AAA", "updated", "2026-11-24T04:58:50.709+00:00",
                                       "04l8d000000000zAAA"),
    "Opportunity.created__ui": event("deal", "0068d0000000010AAA", "created", "2026-11-24T04:58:50.732+00:00",
                                     "04l8d0000000011AAA"),
    "Opportunity.updated__ui_won": event("deal", "0068d000000000iAAA", "updated", "2026-11-24T04:58:50.738+00:00",
                                         "04l8d0000000012AAA"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_its_event(name):
    assert parse(name).events == [EXPECTED[name]]


def test_every_event_kind_has_a_fixture():
    captured = {path.name.split("__")[0] for path in FIXTURES.glob("*.xml")}
    assert set(SalesforceWebhooks.EVENT_KINDS) <= captured
    assert SalesforceWebhooks.SUPPORTED_EVENTS == tuple(SalesforceWebhooks.EVENT_KINDS)


def test_registry_gives_this_parser():
    assert isinstance(get_webhook_parser("salesforce"), SalesforceWebhooks)


def test_own_write_carries_the_integration_user_as_source():
    own, ui = parse("Lead.updated__own_write").events[0], parse("Lead.updated__ui_status").events[0]
    assert (own.source, own.source_is_app) == (INTEGRATION_USER, False)  # the web layer compares with the tenant
    assert ui.source == UI_USER


def test_ignored_event_is_acknowledged_without_events():
    delivery = parse("Event.created__ui_meeting")
    assert (delivery.events, delivery.ignored, delivery.unsupported) == ([], ["Event.created"], [])


def test_unsupported_event_is_named():
    delivery = parse("User.updated__ui_title")
    assert (delivery.events, delivery.ignored, delivery.unsupported) == ([], [], ["User.updated"])


def test_credentials_come_from_the_url_path():
    parser = SalesforceWebhooks()
    assert parser.credentials(Raw(b"", url=URL)) == ("whk_capture", "capture-secret")
    assert parser.credentials(Raw(b"", url=URL.replace("capture-secret", "a%2Fb"))) == ("whk_capture", "a/b")
    assert parser.missing_signature(Raw(b"", url=URL)) is None


@pytest.mark.parametrize("url", ["https://leadrelay.example/webhooks/salesforce",
                                 "https://leadrelay.example/webhooks/salesforce/whk_capture",
                                 "https://leadrelay.example/webhooks/salesforce/whk_capture/s/extra"])
def test_missing_url_credentials(url):
    assert SalesforceWebhooks().missing_signature(Raw(b"", url=url)) == "url-credentials"


def test_verify_is_never_true_because_salesforce_signs_nothing():
    assert SalesforceWebhooks().verify(Raw(fixture("Lead.created__ui")), "any", dt.datetime.now(dt.UTC)) is False
    assert SalesforceWebhooks.SECRET_SCOPE == "tenant"


def test_not_xml_is_a_payload_error():
    with pytest.raises(PayloadError) as err:
        parse("", b'{"not": "soap"}')
    assert err.value.path == "body"


def test_missing_organization_id_names_the_path():
    body = fixture("Lead.created__ui").replace(f"<OrganizationId>{ORG}</OrganizationId>".encode(), b"")
    with pytest.raises(PayloadError) as err:
        parse("", body)
    assert err.value.path == "notifications.OrganizationId"


def test_missing_sobject_field_names_the_path():
    body = fixture("Lead.created__ui").replace(b"<sf:LastModifiedDate>2026-11-24T04:58:50.613+0000"
                                               b"</sf:LastModifiedDate>", b"")
    with pytest.raises(PayloadError) as err:
        parse("", body)
    assert err.value.path == "notifications.Notification[0].sObject.LastModifiedDate"


def test_soap_envelope_without_notifications():
    body = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    with pytest.raises(PayloadError) as err:
        parse("", body)
    assert err.value.path == "Envelope.Body.notifications"


def test_external_entities_are_not_resolved():
    body = fixture("Lead.created__ui").replace(
        b"?>", b'?><!DOCTYPE x [<!ENTITY org SYSTEM "file:///etc/hostname">]>', 1).replace(
        f"<OrganizationId>{ORG}".encode(), b"<OrganizationId>&org;")
    with pytest.raises(PayloadError) as err:
        parse("", body)
    assert err.value.path == "notifications.OrganizationId"


@pytest.mark.parametrize(("old", "new", "path"), [
    (b"<sf:LastModifiedDate>2026-11-24T04:58:50.613+0000", b"<sf:LastModifiedDate>" + str(10**20).encode(),
     "notifications.Notification[0].sObject.LastModifiedDate"),
    (b"<sf:CreatedDate>2026-11-24T04:58:50.613+0000", b"<sf:CreatedDate>9999-12-31T23:59:59-23:59",
     "notifications.Notification[0].sObject.CreatedDate"),
    (b"<sf:Id>00Q8d000000000pEAA", b"<sf:Id>" + b"x" * 300, "notifications.Notification[0].sObject.Id"),
    (b"<Id>04l8d000000000qAAA", b"<Id>04l8d000000000qAA", "notifications.Notification[0].Id"),
    (b"<sf:LastModifiedById>0058d0000000003AAA", b"<sf:LastModifiedById>0058d000000-003AAA",
     "notifications.Notification[0].sObject.LastModifiedById"),
    (f"<OrganizationId>{ORG}".encode(), b"<OrganizationId>00D", "notifications.OrganizationId"),
])
def test_out_of_range_value_is_a_payload_error_not_an_overflow(old, new, path):
    body = fixture("Lead.created__ui").replace(old, new)
    with pytest.raises(PayloadError) as err:
        parse("", body)
    assert err.value.path == path


def test_credentials_of_an_unparseable_url_are_none():
    assert SalesforceWebhooks().credentials(Raw(b"", url="http://[::1/webhooks/salesforce/k/s")) is None


def test_fifteen_character_org_id_is_normalised():
    body = fixture("Lead.created__ui").replace(ORG.encode(), ORG[:15].encode())
    assert parse("", body).events[0].account_id == ORG


def test_acknowledge_is_the_notifications_response_salesforce_accepts():
    status, body, content_type = SalesforceWebhooks().acknowledge(parse("Lead.created__ui"))
    assert (status, content_type) == (200, "text/xml")
    assert acked(body.encode())
