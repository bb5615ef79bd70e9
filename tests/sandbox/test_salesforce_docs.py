"""The sandbox's Salesforce answers have the shapes of the documented examples; the demo seed is realistic."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from lxml import etree
from simple_salesforce import Salesforce

from sandbox.salesforce import ids

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "sandbox" / "salesforce" / "docs"


@pytest.fixture(scope="module")
def sf_server(sandbox_server):
    """The shared sandbox server (tests/sandbox/conftest.py)."""
    return sandbox_server


@pytest.fixture(scope="module")
def seeded(sf_server):
    session = requests.Session()
    session.trust_env = False
    org = session.post(f"{sf_server.url}/_sandbox/accounts", json={"platform": "salesforce", "name": "Docs org",
                                                                    "users": [], "seed": "demo"}).json()
    tls = requests.Session()
    tls.trust_env = False
    tls.verify = sf_server.sandbox.ca_file
    sf = Salesforce(instance_url=org["api_base"], session_id=org["access_token"], session=tls, version="59.0")
    return org, sf, session


def shape(value):
    """Keys and value kinds, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_query_response_has_the_documented_shape(seeded):
    _, sf, _ = seeded
    documented = json.loads((DOCS / "query_response.json").read_text())
    ours = sf.query("SELECT Name FROM Account ORDER BY Name")
    assert shape(json.loads(json.dumps(ours))) == shape(documented)
    assert re.fullmatch(r"/services/data/v59\.0/sobjects/Account/001\w{15}", ours["records"][0]["attributes"]["url"])


def test_limit_info_header_has_the_documented_format(seeded):
    _, sf, _ = seeded
    documented = re.search(r"Sforce-Limit-Info: (.+)", (DOCS / "limit_info_header.txt").read_text()).group(1)
    resp = sf.session.get(f"{sf.base_url}query/", params={"q": "SELECT Id FROM User"}, headers=sf.headers)
    pattern = r"api-usage=\d+/\d+"
    assert re.fullmatch(pattern, documented) and re.fullmatch(pattern, resp.headers["Sforce-Limit-Info"])


def test_limit_error_has_the_recorded_body(sf_server):
    documented = json.loads((DOCS / "error_limit_exceeded.json").read_text())
    session = requests.Session()
    session.trust_env = False
    org = session.post(f"{sf_server.url}/_sandbox/accounts", json={"platform": "salesforce", "users": []}).json()
    sf_server.sandbox.config.update({"limits": {"salesforce": {"daily_api_requests": 0}}})
    try:
        resp = session.get(f"{sf_server.tls_url}/services/data/v59.0/limits", verify=sf_server.sandbox.ca_file,
                           headers={"Authorization": f"Bearer {org['access_token']}"})
    finally:
        sf_server.sandbox.config.reset()
    assert resp.status_code == 403 and resp.json() == documented


def test_merge_result_has_the_documented_properties(seeded):
    org, sf, _ = seeded
    documented = set(json.loads((DOCS / "merge_result_properties.json").read_text()))
    master, loser = (r["Id"] for r in sf.query("SELECT Id FROM Lead WHERE LastName = 'Jones'")["records"])
    sf.Task.create({"Subject": "Follow up", "WhoId": loser})  # so updatedRelatedIds is not empty
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com" xmlns:sf="urn:sobject.partner.soap.sforce.com">'
        f'<soapenv:Header><urn:SessionHeader><urn:sessionId>{org["access_token"]}</urn:sessionId>'
        '</urn:SessionHeader></soapenv:Header><soapenv:Body><urn:merge><urn:request><urn:masterRecord>'
        f'<sf:type>Lead</sf:type><sf:Id>{master}</sf:Id></urn:masterRecord>'
        f'<urn:recordToMergeIds>{loser}</urn:recordToMergeIds></urn:request></urn:merge></soapenv:Body>'
        '</soapenv:Envelope>')
    resp = sf.session.post(f"https://{sf.sf_instance}/services/Soap/u/59.0", data=envelope,
                           headers={"Content-Type": "text/xml", "SOAPAction": "merge"})
    result = etree.fromstring(resp.content).xpath("//*[local-name()='result']")[0]
    ours = {etree.QName(child).localname for child in result}
    assert ours | {"errors"} == documented  # errors only appears when there are some


def test_outbound_message_follows_the_documented_schema(seeded, sf_server):
    from sandbox.salesforce import outbound

    org, _, _ = seeded
    schema = etree.fromstring((DOCS / "outbound_notifications_schema.xml").read_bytes())
    documented = [el.get("name") for el in schema.xpath("//*[local-name()='sequence']/*")]
    account = sf_server.sandbox.store.account(org["account_id"])
    with sf_server.sandbox.store.lock:
        outbound.configure(account, {"endpoint_url": "http://127.0.0.1:9/never"}, 1)
        lead = next(iter(account.table("Lead").values()))
        body = outbound.message(account, sf_server.tls_url, "Lead", [("04l8d0000000001AAA", lead)], None)
        outbound.configure(account, {}, 2)
    notifications = etree.fromstring(body).xpath("//*[local-name()='notifications']")[0]
    assert [etree.QName(el).localname for el in notifications] == documented


def test_token_and_identity_answers_cover_the_documented_keys(sf_server, seeded):
    token_doc = json.loads((DOCS / "token_response_type.json").read_text())
    identity_doc = json.loads((DOCS / "identity_info_type.json").read_text())
    _, sf, session = seeded
    session.post(f"{sf_server.url}/_sandbox/apps", json={"platform": "salesforce", "client_id": "docs-app",
                                                          "client_secret": "s", "redirect_uris": ["http://x/cb"]})
    web = sf.session
    loc = web.get(f"{sf_server.tls_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": "docs-app", "redirect_uri": "http://x/cb"}).headers["Location"]
    code = loc.split("code=")[1].split("&")[0]
    token = web.post(f"{sf_server.tls_url}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://x/cb", "client_id": "docs-app",
        "client_secret": "s"}).json()
    required = {k for k in token_doc if not k.endswith("?")}
    assert required <= set(token) and "expires_in" not in token
    identity = web.get(token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert set(identity_doc) <= set(identity) and set(identity_doc["urls"]) <= set(identity["urls"])


def test_demo_seed_is_realistic(seeded, sf_server):
    org, _, session = seeded
    base = f"{sf_server.url}/_sandbox/accounts/{org['account_id']}"
    accounts = session.get(f"{base}/Account").json()["results"]
    contacts = session.get(f"{base}/contacts").json()["results"]
    users = session.get(f"{base}/User").json()["results"]
    assert len(accounts) == 8 and all(a["Website"] and a["OwnerId"] for a in accounts)
    assert len(users) == 4 and len({u["TimeZoneSidKey"] for u in users}) == 4
    assert len(contacts) + len(session.get(f"{base}/Lead").json()["results"]) >= 28
    assert all(ids.checksum_suffix(c["Id"][:15]) == c["Id"][15:] for c in contacts)
    emails = [c["Email"].lower() for c in contacts]
    assert "jon.smith@acme.com" in emails
    switchboard = [c for c in contacts if c["Phone"] == "+1 212 555 0100"]
    assert len(switchboard) == 2 and len({c["Email"] for c in switchboard}) == 2
