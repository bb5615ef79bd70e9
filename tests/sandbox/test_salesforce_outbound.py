"""Outbound Messages as a real org sends them: the admin's fields only, up to 100 notifications a message.

Sources are in sandbox/salesforce/outbound.py; the real two-notification message these tests compare the shape with
is aspnet/WebHooks test/Microsoft.AspNetCore.WebHooks.FunctionalTest/Resources/RequestBodies/Salesforce.xml.
"""
from __future__ import annotations

import time

import pytest
import requests
from lxml import etree

from adapters.salesforce.webhooks import SalesforceWebhooks
from sandbox.salesforce.outbound import DOCUMENTED_FIELDS
from tests.sandbox.conftest import new_account
from tests.sandbox.outbound_receiver import Receiver

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@pytest.fixture()
def receiver():
    box = Receiver(path="/webhooks/salesforce/k/s")
    yield box
    box.server.shutdown()


@pytest.fixture()
def window(sandbox):
    """Sets the batch window for one test (the sandbox server is shared: its config is reset after)."""
    yield lambda ms: sandbox.sandbox.config.update({"outbound_batch_ms": ms})
    sandbox.sandbox.config.reset()


@pytest.fixture()
def org(sandbox):
    return new_account(sandbox, "salesforce")


def control(server, org, payload: dict, expect: int = 200) -> dict:
    session = requests.Session()
    session.trust_env = False
    resp = session.post(f"{server.url}/_sandbox/accounts/{org['account_id']}/simulate", json=payload, timeout=10)
    assert resp.status_code == expect, resp.text
    return resp.json()


def create(server, org, object_type: str = "Lead", **props) -> str:
    props = props or {"LastName": "Lovelace", "Company": "Engines"}
    return control(server, org, {"action": "create", "object_type": object_type, "properties": props})["Id"]


def notifications(body: bytes) -> list[tuple[str, dict[str, str]]]:
    """(sObject xsi:type, {field: value} in document order) for each Notification of a message."""
    root = etree.fromstring(body)
    return [(s.get(XSI_TYPE), {etree.QName(f).localname: f.text for f in s})
            for s in root.xpath("//*[local-name()='Notification']/*[local-name()='sObject']")]


def header(body: bytes, name: str) -> str | None:
    found = etree.fromstring(body).xpath(f"//*[local-name()='notifications']/*[local-name()='{name}']")
    return found[0].text if found else None


def test_the_default_fields_are_the_ones_leadrelay_asks_admins_to_select(sandbox, org, receiver):
    assert DOCUMENTED_FIELDS == SalesforceWebhooks.OUTBOUND_FIELDS
    control(sandbox, org, {"action": "configure_outbound", "endpoint_url": receiver.url})
    lead = create(sandbox, org, FirstName="Ada", LastName="Lovelace", Company="Engines", Email="ada@engines.example")
    [(kind, fields)] = notifications(receiver.wait_for(1)[0])
    assert kind == "sf:Lead" and list(fields) == ["Id", "CreatedDate", "LastModifiedById", "LastModifiedDate"]
    assert fields["Id"] == lead  # Email, Company, the names: not selected, not sent


def test_id_only_and_every_field(sandbox, org, receiver):
    control(sandbox, org, {"action": "configure_outbound", "endpoint_url": receiver.url,
                           "fields": {"Lead": ["Id"], "Contact": "*"}})
    lead = create(sandbox, org)
    create(sandbox, org, "Contact", LastName="Hopper", Email="grace@navy.example")
    lead_message, contact_message = receiver.wait_for(2)
    assert notifications(lead_message) == [("sf:Lead", {"Id": lead})]
    [(_, contact)] = notifications(contact_message)
    assert {"Email", "LastName", "OwnerId", "SystemModstamp"} <= set(contact) and list(contact)[0] == "Id"
    assert header(lead_message, "ActionId") != header(contact_message, "ActionId")  # one outbound message per object


def test_the_shape_of_a_real_two_notification_message(sandbox, org, receiver, window):
    """As the org in the aspnet/WebHooks capture sends it: Id first, the selected fields alphabetically, a selected
    field without a value left out, both notifications in one message with a session id."""
    control(sandbox, org, {"action": "configure_outbound", "endpoint_url": receiver.url, "objects": ["Contact"],
                           "send_session_id": True,
                           "fields": ["Title", "LastName", "FirstName", "Email", "CreatedDate"]})
    window(1000)
    first = create(sandbox, org, "Contact", FirstName="Jeraldine", LastName="Black", Title="White")
    second = create(sandbox, org, "Contact", FirstName="Doug", LastName="Bunting", Title="Supreme Being",
                    Email="doug@example.edu")
    [body] = receiver.wait_for(1)
    time.sleep(0.2)
    assert len(receiver.bodies) == 1
    root = etree.fromstring(body)
    top = [etree.QName(el).localname for el in root.xpath("//*[local-name()='notifications']/*")]
    assert top == ["OrganizationId", "ActionId", "SessionId", "EnterpriseUrl", "PartnerUrl", "Notification",
                   "Notification"]
    assert header(body, "SessionId").startswith(org["account_id"][:15] + "!")
    (_, a), (_, b) = notifications(body)
    assert (a["Id"], list(a)) == (first, ["Id", "CreatedDate", "FirstName", "LastName", "Title"])
    assert (b["Id"], list(b)) == (second, ["Id", "CreatedDate", "Email", "FirstName", "LastName", "Title"])
    assert SalesforceWebhooks().parse(_Raw(body)).events[0].kind == "changed"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body, self.url, self.method, self.headers = body, "https://x/webhooks/salesforce/k/s", "POST", {}


def test_one_call_of_150_records_is_two_messages_of_100_and_50(sandbox, org, receiver, http):
    control(sandbox, org, {"action": "configure_outbound", "endpoint_url": receiver.url, "fields": ["Id"]})
    records = [{"attributes": {"type": "Lead"}, "LastName": f"Lead{n}", "Company": "Bulk"} for n in range(150)]
    resp = http.post(f"{org['api_base']}/services/data/v59.0/composite/sobjects", timeout=30,
                     headers={"Authorization": f"Bearer {org['access_token']}"},
                     json={"allOrNone": False, "records": records})
    created = [r["id"] for r in resp.json()]
    bodies = receiver.wait_for(2)
    assert [len(notifications(b)) for b in bodies] == [100, 50]
    assert [f["Id"] for b in bodies for _, f in notifications(b)] == created
    ids = [n for b in bodies
           for n in etree.fromstring(b).xpath("//*[local-name()='Notification']/*[local-name()='Id']/text()")]
    assert len(set(ids)) == 150  # each notification its own id, for the receiver's de-duplication


def test_changes_within_the_window_go_together_with_the_values_at_send_time(sandbox, org, receiver, window):
    control(sandbox, org, {"action": "configure_outbound", "endpoint_url": receiver.url,
                           "objects": ["Lead"], "fields": ["Status", "LastModifiedDate"]})
    window(1000)
    lead = create(sandbox, org)
    other = create(sandbox, org)
    control(sandbox, org, {"action": "update", "object_type": "Lead", "id": lead,
                           "properties": {"Status": "Working - Contacted"}})
    control(sandbox, org, {"action": "delete", "object_type": "Lead", "id": other})
    [body] = receiver.wait_for(1)
    sent = notifications(body)
    assert [f["Id"] for _, f in sent] == [lead, other, lead]  # three notifications, one message
    assert sent[0][1]["Status"] == sent[2][1]["Status"] == "Working - Contacted"  # the latest data, twice
    assert sent[1][1] == {"Id": other}  # deleted before it went out: no data but its Id


def test_an_unknown_field_is_refused_by_the_control_api(sandbox, org):
    answer = control(sandbox, org, {"action": "configure_outbound", "endpoint_url": "http://127.0.0.1:9/x",
                                    "fields": {"Lead": ["Id", "Shoe_Size__c"]}}, expect=400)
    assert "Shoe_Size__c" in answer["error"]
