"""Contract tests: SOAP merge() through the SDK's session, and Outbound Message delivery with Ack."""
from __future__ import annotations

import pytest
import requests
from lxml import etree
from simple_salesforce import Salesforce

from tests.sandbox.outbound_receiver import Receiver

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
OM = "http://soap.sforce.com/2005/09/outbound"
ACK = (f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Body><notificationsResponse xmlns="{OM}">'
       "<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")


@pytest.fixture(scope="module")
def sf_server(sandbox_server):
    """The shared sandbox server (tests/sandbox/conftest.py)."""
    return sandbox_server


@pytest.fixture()
def org(sf_server):
    sf_server.sandbox.config.reset()
    session = requests.Session()
    session.trust_env = False
    resp = session.post(f"{sf_server.url}/_sandbox/accounts", json={"platform": "salesforce", "name": "Merge org",
                                                                     "users": [], "seed": "demo"})
    return resp.json()


@pytest.fixture()
def sf(sf_server, org) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = sf_server.sandbox.ca_file
    return Salesforce(instance_url=org["api_base"], session_id=org["access_token"], session=session,
                      version="59.0")


@pytest.fixture()
def receiver():
    box = Receiver([ACK])
    yield box
    box.server.shutdown()


def merge_envelope(token: str, object_type: str, master_id: str, loser_ids: list[str], **fields: str) -> str:
    """A partner-WSDL merge() request, as an adapter would post it."""
    extra = "".join(f"<urn1:{k}>{v}</urn1:{k}>" for k, v in fields.items())
    losers = "".join(f"<urn:recordToMergeIds>{i}</urn:recordToMergeIds>" for i in loser_ids)
    return (f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:urn="urn:partner.soap.sforce.com" '
            'xmlns:urn1="urn:sobject.partner.soap.sforce.com">'
            f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{token}</urn:sessionId></urn:SessionHeader>"
            f"</soapenv:Header><soapenv:Body><urn:merge><urn:request><urn:masterRecord>"
            f"<urn1:type>{object_type}</urn1:type><urn1:Id>{master_id}</urn1:Id>{extra}</urn:masterRecord>"
            f"{losers}</urn:request></urn:merge></soapenv:Body></soapenv:Envelope>")


def soap_merge(sf: Salesforce, envelope: str) -> tuple[int, etree._Element]:
    url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}"
    resp = sf.session.post(url, data=envelope.encode(), headers={"Content-Type": "text/xml", "SOAPAction": "merge"})
    return resp.status_code, etree.fromstring(resp.content)


def text(root: etree._Element, name: str) -> list[str]:
    return root.xpath(f"//*[local-name()='{name}']/text()")


def soql(template: str, **values: str) -> str:
    """SOQL with sandbox-issued ids filled in (test data, never user input)."""
    return template.format(**values)


def one(sf: Salesforce, soql: str) -> dict:
    rows = sf.query(soql)["records"]
    assert len(rows) == 1, rows
    return rows[0]


def test_merge_keeps_survivor_values_and_reparents(sf, org):
    master = one(sf, "SELECT Id, Phone, Email FROM Contact WHERE Email = 'william.turner@globex.io'")
    loser = sf.Contact.create({"FirstName": "Bill", "LastName": "Turner", "Email": "bill@globex.io",
                               "Phone": "+1 415 000 0000", "Title": "CTO (old)"})["id"]
    task = sf.Task.create({"Subject": "Intro call", "WhoId": loser, "Status": "Completed", "TaskSubtype": "Call"})
    status, root = soap_merge(sf, merge_envelope(org["access_token"], "Contact", master["Id"], [loser],
                                                 Title="Chief Technology Officer"))
    assert status == 200 and text(root, "success") == ["true"]
    assert text(root, "id") == [master["Id"]] and text(root, "mergedRecordIds") == [loser]
    assert text(root, "updatedRelatedIds") == [task["id"]]
    survivor = sf.Contact.get(master["Id"])
    assert (survivor["Phone"], survivor["Email"], survivor["Title"]) == (
        master["Phone"], master["Email"], "Chief Technology Officer")
    assert sf.Task.get(task["id"])["WhoId"] == master["Id"]
    assert sf.query(soql("SELECT Id FROM Contact WHERE Id = '{i}'", i=loser))["totalSize"] == 0
    gone = sf.query_all(soql("SELECT IsDeleted, MasterRecordId FROM Contact WHERE Id = '{i}'", i=loser),
                        include_deleted=True)
    assert gone["records"][0]["IsDeleted"] is True and gone["records"][0]["MasterRecordId"] == master["Id"]
    status, root = soap_merge(sf, merge_envelope(org["access_token"], "Contact", master["Id"], [loser]))
    assert status == 200 and text(root, "success") == ["false"] and text(root, "statusCode") == ["ENTITY_IS_DELETED"]


def test_merge_faults(sf, org):
    lead = one(sf, "SELECT Id FROM Lead WHERE Email = 'katie.jones@gmail.com'")
    other = one(sf, "SELECT Id FROM Lead WHERE Email = 'katiejones@gmail.com'")
    status, root = soap_merge(sf, merge_envelope("bogus", "Lead", lead["Id"], [other["Id"]]))
    assert status == 500 and text(root, "faultcode") == ["sf:INVALID_SESSION_ID"]
    assert text(root, "exceptionCode") == ["INVALID_SESSION_ID"]
    status, root = soap_merge(sf, merge_envelope(org["access_token"], "Lead", lead["Id"], ["not-an-id"]))
    assert status == 500 and text(root, "faultcode") == ["sf:INVALID_ID_FIELD"]
    status, root = soap_merge(sf, merge_envelope(org["access_token"], "Lead", lead["Id"], [other["Id"]]))
    assert text(root, "success") == ["true"]


def simulate(server, org, payload: dict) -> dict:
    session = requests.Session()
    session.trust_env = False
    resp = session.post(f"{server.url}/_sandbox/accounts/{org['account_id']}/simulate", json=payload)
    assert resp.status_code == 200, resp.text
    return resp.json()


def notification(body: bytes) -> dict[str, str]:
    root = etree.fromstring(body)
    fields = {etree.QName(el).localname: el.text for el in root.xpath("//*[local-name()='sObject']/*")}
    header = {name: text(root, name)[0] for name in ("OrganizationId", "ActionId", "EnterpriseUrl", "PartnerUrl")}
    return {**header, **fields, "type": root.xpath("//*[local-name()='sObject']")[0].get(
        "{http://www.w3.org/2001/XMLSchema-instance}type")}


def test_outbound_message_for_ui_change_and_own_write(sf_server, sf, org, receiver):
    # a real message carries only the fields the admin selected (Id always): here Status, Rating, LastModifiedById
    simulate(sf_server, org, {"action": "configure_outbound", "endpoint_url": receiver.url,
                              "fields": {"Lead": ["Status", "Rating", "LastModifiedById"]}})
    lead = one(sf, "SELECT Id FROM Lead WHERE Email = 'yuki.sato@tyrell.jp'")
    ui = simulate(sf_server, org, {"action": "update", "object_type": "Lead", "id": lead["Id"],
                                   "properties": {"Status": "Working - Contacted"}})
    message = notification(receiver.wait_for(1)[0])
    # Salesforce does not sign outbound messages: the receiver checks the org id it expects
    assert message["OrganizationId"] == org["account_id"] and message["ActionId"].startswith("04k")
    assert message["type"] == "sf:Lead" and message["Id"] == lead["Id"]
    assert message["Status"] == "Working - Contacted" and message["LastModifiedById"] == ui["LastModifiedById"]
    assert "Email" not in message and "LastModifiedDate" not in message  # not selected, not sent
    sf.Lead.update(lead["Id"], {"Rating": "Hot"})
    own = notification(receiver.wait_for(2)[1])
    admin = one(sf, "SELECT Id FROM User WHERE Username = 'avery.admin@example.com'")["Id"]
    assert own["LastModifiedById"] == admin != message["LastModifiedById"]
    assert own["Rating"] == "Hot"


def test_outbound_message_retried_until_acked(sf_server, sf, org):
    box = Receiver(["<ok/>", ACK])  # first reply is a 200 without <Ack>true</Ack>: a failure for Salesforce
    try:
        sf_server.sandbox.config.update({"webhook_retry_scale": 0.001})
        simulate(sf_server, org, {"action": "configure_outbound", "endpoint_url": box.url, "objects": ["Contact"]})
        created = simulate(sf_server, org, {"action": "create", "object_type": "Contact",
                                             "properties": {"LastName": "Okafor", "Email": "ada@okafor.example"}})
        bodies = box.wait_for(2)
        assert len(bodies) == 2 and bodies[0] == bodies[1]  # same notification id: receivers can de-duplicate
        assert notification(bodies[1])["Id"] == created["Id"]
        sf_server.sandbox.outbox.wait_idle()
        history = [d for d in sf_server.sandbox.outbox.history if d["url"] == box.url]
        assert [d["status"] for d in history] == [500, 200]
    finally:
        box.server.shutdown()
