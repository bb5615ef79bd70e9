"""SalesforceWebhooks against Outbound Messages captured byte-exact from the sandbox (fixtures/salesforce/)."""
from __future__ import annotations

import copy
import datetime as dt
import pathlib
import re
from dataclasses import dataclass, field

import pytest
from lxml import etree

from adapters.registry import get_webhook_parser
from adapters.salesforce.webhooks import SalesforceWebhooks
from integration.errors import PayloadError
from integration.records import Event
from sandbox.salesforce.outbound import acked

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
DOCS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "sandbox" / "salesforce" / "docs"
SOAPENV, XSI = "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2001/XMLSchema-instance"
OM_NS, SOBJECT_NS = "http://soap.sforce.com/2005/09/outbound", "urn:sobject.enterprise.soap.sforce.com"
URL = "https://leadrelay.example/webhooks/salesforce/whk_capture/capture-secret"
ORG = "00D8d0000000001EAA"
UI_USER = "0058d000000000AAAQ"
INTEGRATION_USER = "0058d0000000008AAA"  # the user whose token the app holds (tenant settings integration_user_id)


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


def event(object_type: str, object_id: str, kind: str, occurred: str | None, event_id: str, source: str = UI_USER):
    return Event(platform="salesforce", account_id=ORG, object_type=object_type, object_id=object_id, kind=kind,
                 occurred_at=at(occurred) if occurred else None, event_id=event_id, source=source)


def changed(object_type: str, object_id: str, event_id: str) -> Event:
    """What an Id-only notification says: this record changed, no more (no date, no user)."""
    return event(object_type, object_id, "changed", None, event_id, source="")


EXPECTED = {
    "Lead.created__ui": [event("lead", "00Q8d000000000zEAA", "created", "2026-12-05T11:56:09.776+00:00",
                               "04l8d0000000010AAA")],
    "Lead.updated__ui_status": [event("lead", "00Q8d000000000kEAA", "updated", "2026-12-05T11:56:09.777+00:00",
                                      "04l8d0000000012AAA")],
    "Lead.updated__merge_master": [event("lead", "00Q8d000000000hEAA", "updated", "2026-12-05T11:56:09.805+00:00",
                                         "04l8d0000000014AAA")],
    "Lead.updated__own_write": [event("lead", "00Q8d000000000lEAA", "updated", "2026-12-05T11:56:09.835+00:00",
                                      "04l8d0000000016AAA", source=INTEGRATION_USER)],
    "Lead.created__every_field": [event("lead", "00Q8d000000001SEAQ", "created", "2026-12-05T11:56:10.039+00:00",
                                        "04l8d000000001TAAQ")],
    "Contact.created__ui": [event("contact", "0038d0000000018AAA", "created", "2026-12-05T11:56:09.861+00:00",
                                  "04l8d0000000019AAA")],
    "Contact.updated__ui_title": [event("contact", "0038d000000000OAAQ", "updated", "2026-12-05T11:56:09.873+00:00",
                                        "04l8d000000001BAAQ")],
    "Account.created__ui": [event("company", "0018d000000001DAAQ", "created", "2026-12-05T11:56:09.878+00:00",
                                  "04l8d000000001EAAQ")],
    "Account.updated__ui_owner": [event("company", "0018d000000000HAAQ", "updated", "2026-12-05T11:56:09.910+00:00",
                                        "04l8d000000001GAAQ")],
    "Opportunity.created__ui": [event("deal", "0068d000000001IAAQ", "created", "2026-12-05T11:56:09.939+00:00",
                                      "04l8d000000001JAAQ")],
    "Opportunity.updated__ui_won": [event("deal", "0068d000000000sAAA", "updated", "2026-12-05T11:56:09.974+00:00",
                                          "04l8d000000001LAAQ")],
    "Lead.changed__id_only": [changed("lead", "00Q8d000000000kEAA", "04l8d000000001VAAQ")],
    "Contact.changed__id_only": [changed("contact", "0038d000000000PAAQ", "04l8d000000001XAAQ")],
    "Account.changed__id_only": [changed("company", "0018d000000001ZAAQ", "04l8d000000001aAAA")],
    "Opportunity.changed__id_only": [changed("deal", "0068d000000001cAAA", "04l8d000000001dAAA")],
    "Lead.changed__id_only_batch_of_3": [changed("lead", "00Q8d000000001fEAA", "04l8d000000001gAAA"),
                                         changed("lead", "00Q8d000000001hEAA", "04l8d000000001iAAA"),
                                         changed("lead", "00Q8d000000000fEAA", "04l8d000000001jAAA")],
    "Lead.created__batch_of_3_created_and_updated": [
        event("lead", "00Q8d000000001lEAA", "created", "2026-12-05T11:56:10.693+00:00", "04l8d000000001mAAA"),
        event("lead", "00Q8d000000000gEAA", "updated", "2026-12-05T11:56:10.695+00:00", "04l8d000000001nAAA"),
        event("lead", "00Q8d000000001oEAA", "created", "2026-12-05T11:56:10.697+00:00", "04l8d000000001pAAA")],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_its_events(name):
    assert parse(name).events == EXPECTED[name]


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


@pytest.mark.parametrize("field_name", ["CreatedDate", "LastModifiedDate"])
def test_a_message_without_a_date_field_says_changed_and_keeps_what_it_has(field_name):
    """The admin did not select every field LeadRelay asks for: the event is still taken, with what is there."""
    body = re.sub(rf"<sf:{field_name}>[^<]*</sf:{field_name}>".encode(), b"", fixture("Lead.created__ui"))
    [taken] = parse("", body).events
    assert (taken.object_id, taken.kind, taken.source) == ("00Q8d000000000zEAA", "changed", UI_USER)
    assert taken.occurred_at == (None if field_name == "LastModifiedDate" else at("2026-12-05T11:56:09.776+00:00"))


def _set_aside(body: bytes) -> list[str]:
    """The paths of the notifications parse() set aside; it must have read nothing else from this one-item body."""
    delivery = parse("", body)
    assert delivery.events == []
    return [path for path, _ in delivery.unreadable]


def test_a_notification_without_its_record_id_is_set_aside_not_the_message():
    body = fixture("Lead.changed__id_only").replace(b"<sf:Id>00Q8d000000000kEAA</sf:Id>", b"")
    assert _set_aside(body) == ["notifications.Notification[0].sObject.Id"]


def test_a_notification_without_its_sobject_type_is_set_aside():
    body = fixture("Lead.changed__id_only").replace(b' xsi:type="sf:Lead"', b"")
    assert _set_aside(body) == ["notifications.Notification[0].sObject@xsi:type"]


def _with_notifications(count: int) -> bytes:
    """The captured Id-only batch, its notifications repeated (fresh ids) or removed to make `count` of them."""
    root = etree.fromstring(fixture("Lead.changed__id_only_batch_of_3"))
    holder = root.xpath("//*[local-name()='notifications']")[0]
    items = holder.xpath("*[local-name()='Notification']")
    for item in items:
        holder.remove(item)
    for n in range(count):
        item = copy.deepcopy(items[n % len(items)])
        item[0].text = f"04l8d{n:010d}"
        holder.append(item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_message_of_100_notifications_is_100_events():
    assert len(parse("", _with_notifications(100)).events) == 100


@pytest.mark.parametrize("count", [0, 101])
def test_none_or_more_than_100_notifications_is_a_payload_error(count):
    with pytest.raises(PayloadError) as err:
        parse("", _with_notifications(count))
    assert (err.value.path, err.value.problem) == (
        "notifications.Notification", f"{count} notifications: an Outbound Message carries 1 to 100")


def test_the_minimal_message_the_documentation_describes():
    """The notifications() sequence of the documented schema, in its order, with only what it requires: SessionId
    nil (it is nillable), one OpportunityNotification (the docs' example type) whose sObject carries its Id alone."""
    schema = etree.fromstring((DOCS / "outbound_notifications_schema.xml").read_bytes())
    names = [el.get("name") for el in schema.xpath("//*[local-name()='sequence']/*")]
    values = {"OrganizationId": ORG, "ActionId": "04k8d0000000001AAA", "EnterpriseUrl": "https://x/services/Soap/c/59.0",
              "PartnerUrl": "https://x/services/Soap/u/59.0"}
    envelope = etree.Element(f"{{{SOAPENV}}}Envelope", nsmap={"soapenv": SOAPENV, "xsi": XSI})
    holder = etree.SubElement(etree.SubElement(envelope, f"{{{SOAPENV}}}Body"), f"{{{OM_NS}}}notifications",
                              nsmap={None: OM_NS})
    for name in names:
        element = etree.SubElement(holder, f"{{{OM_NS}}}{name}")
        if name == "SessionId":
            element.set(f"{{{XSI}}}nil", "true")
        elif name == "Notification":
            etree.SubElement(element, f"{{{OM_NS}}}Id").text = "04l8d0000000002AAA"
            sobject = etree.SubElement(element, f"{{{OM_NS}}}sObject", nsmap={"sf": SOBJECT_NS})
            sobject.set(f"{{{XSI}}}type", "sf:Opportunity")
            etree.SubElement(sobject, f"{{{SOBJECT_NS}}}Id").text = "0068d0000000003AAA"
        else:
            element.text = values[name]
    delivery = parse("", etree.tostring(envelope))
    assert delivery.events == [changed("deal", "0068d0000000003AAA", "04l8d0000000002AAA")]


def test_an_indented_message_parses_the_same():
    """Real orgs send their messages indented (the aspnet/WebHooks capture is): whitespace between elements."""
    body = fixture("Lead.created__batch_of_3_created_and_updated")
    pretty = etree.tostring(etree.fromstring(body), pretty_print=True)
    assert parse("", pretty).events == EXPECTED["Lead.created__batch_of_3_created_and_updated"]


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
    (b"<sf:LastModifiedDate>2026-12-05T11:56:09.776+0000", b"<sf:LastModifiedDate>" + str(10**20).encode(),
     "notifications.Notification[0].sObject.LastModifiedDate"),
    (b"<sf:CreatedDate>2026-12-05T11:56:09.776+0000", b"<sf:CreatedDate>9999-12-31T23:59:59-23:59",
     "notifications.Notification[0].sObject.CreatedDate"),
    (b"<sf:Id>00Q8d000000000zEAA", b"<sf:Id>" + b"x" * 300, "notifications.Notification[0].sObject.Id"),
    (b"<Id>04l8d0000000010AAA", b"<Id>04l8d0000000010AA", "notifications.Notification[0].Id"),
    (b"<sf:LastModifiedById>0058d000000000AAAQ", b"<sf:LastModifiedById>0058d000000-00AAAQ",
     "notifications.Notification[0].sObject.LastModifiedById"),
    (f"<OrganizationId>{ORG}".encode(), b"<OrganizationId>00D", "notifications.OrganizationId"),
])
def test_out_of_range_value_is_a_payload_error_not_an_overflow(old, new, path):
    body = fixture("Lead.created__ui").replace(old, new)
    if path.startswith("notifications.Notification["):  # one notification's problem: it alone is set aside
        assert _set_aside(body) == [path]
        return
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
