"""HubSpot webhook delivery: format, change source, merge events, signatures, retries."""
from __future__ import annotations

import json
import pathlib

from hubspot.utils.signature import Signature

from sandbox.hubspot.hubstate import App
from sandbox.hubspot.webhooks import signer
from sandbox.outbox import Delivery
from tests.sandbox import hubspot_support as S

DOCS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "sandbox" / "hubspot" / "docs"


receiver = S.receiver


def _simulate(server, account_id: str, payload: dict) -> dict:
    resp = S.control(server).post(f"{server.url}/_sandbox/accounts/{account_id}/simulate", json=payload)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_ui_change_is_delivered_signed_v3_and_v1(sandbox, receiver):
    app = S.register_app(sandbox, target_url=receiver.url, app_id=777)
    acct = S.portal(sandbox, install_app=app["client_id"])
    rec = _simulate(sandbox, acct["account_id"], {"action": "create", "object_type": "contacts",
                                                  "properties": {"email": "ui@example.com", "firstname": "Ui"}})
    _simulate(sandbox, acct["account_id"], {"action": "update", "object_type": "contacts", "id": rec["id"],
                                            "properties": {"firstname": "Una"}})
    assert receiver.wait(lambda r: any(e.get("propertyValue") == "Una" for e in r.events()))
    change = next(e for e in receiver.events() if e.get("propertyValue") == "Una")
    assert change["subscriptionType"] == "contact.propertyChange" and change["propertyName"] == "firstname"
    assert change["changeSource"] == "CRM_UI" and change["sourceId"].startswith("userId:")
    assert (change["portalId"], change["appId"], change["objectId"]) == (int(acct["account_id"]), 777,
                                                                          int(rec["id"]))
    assert any(e["subscriptionType"] == "contact.creation" and e["changeFlag"] == "CREATED"
               for e in receiver.events())
    for req in receiver.requests:
        headers = req["headers"]
        assert Signature.is_valid(signature=headers["X-Hubspot-Signature-V3"], client_secret=app["client_secret"],
                                  request_body=req["body"], http_uri=req["url"], http_method="POST",
                                  signature_version="v3", timestamp=headers["X-Hubspot-Request-Timestamp"])
        assert Signature.is_valid(signature=headers["X-Hubspot-Signature"], client_secret=app["client_secret"],
                                  request_body=req["body"], signature_version="v1")
        assert not Signature.is_valid(signature=headers["X-Hubspot-Signature-V3"], client_secret="other",
                                      request_body=req["body"], http_uri=req["url"], signature_version="v3",
                                      timestamp=headers["X-Hubspot-Request-Timestamp"])


def test_app_writes_carry_the_integration_source(sandbox, receiver):
    app = S.register_app(sandbox, target_url=receiver.url, app_id=888,
                         subscriptions=[{"subscriptionType": "contact.propertyChange", "propertyName": "jobtitle"}])
    acct = S.portal(sandbox)
    tokens = S.install_via_oauth(sandbox, app, acct["account_id"])
    client = S.sdk(sandbox, tokens.access_token)
    contact = client.crm.contacts.basic_api.create({"properties": {"email": "api@example.com"}})
    client.crm.contacts.basic_api.update(contact.id, {"properties": {"jobtitle": "CTO", "firstname": "Al"}})
    assert receiver.wait(lambda r: len(r.events()) >= 1)
    events = receiver.events()
    assert [(e["subscriptionType"], e["propertyName"]) for e in events] == [("contact.propertyChange", "jobtitle")]
    assert (events[0]["changeSource"], events[0]["sourceId"]) == ("INTEGRATION", "888")


def test_merge_event_and_batching(sandbox, receiver):
    app = S.register_app(sandbox, target_url=receiver.url)
    acct = S.portal(sandbox, install_app=app["client_id"])
    tokens = S.install_via_oauth(sandbox, app, acct["account_id"])
    client = S.sdk(sandbox, tokens.access_token)
    batch = client.crm.contacts.batch_api.create({"inputs": [
        {"properties": {"email": f"b{i}@example.com"}, "associations": []} for i in range(3)]})
    ids = [r.id for r in batch.results]
    _simulate(sandbox, acct["account_id"], {"action": "merge", "object_type": "contacts",
                                            "primary_id": ids[0], "merged_id": ids[1]})
    assert receiver.wait(lambda r: any(e["subscriptionType"] == "contact.merge" for e in r.events()))
    first = json.loads(receiver.requests[0]["body"])
    assert sum(e["subscriptionType"] == "contact.creation" for e in first) == 3  # one POST for the batch
    merge = next(e for e in receiver.events() if e["subscriptionType"] == "contact.merge")
    assert (merge["primaryObjectId"], merge["mergedObjectIds"]) == (int(ids[0]), [int(ids[1])])
    # the merged record is a new one: newObjectId differs from both (changelog "Updated merge functionality for
    # contacts and companies"); the fields are those of "New subscription types for webhooks"
    assert merge["newObjectId"] not in (int(ids[0]), int(ids[1]))
    assert [k for k in merge if k not in ("sourceId",)] == [
        "eventId", "subscriptionId", "portalId", "appId", "occurredAt", "subscriptionType", "attemptNumber",
        "objectId", "changeSource", "primaryObjectId", "mergedObjectIds", "newObjectId", "numberOfPropertiesMoved"]
    assert merge["changeSource"] == "CRM_UI"


def test_retries_on_5xx_but_not_on_404(sandbox):
    sandbox.sandbox.config.update({"webhook_retry_scale": 0.000001})
    with S.Receiver(status=500) as failing, S.Receiver(status=404) as gone:
        for rcv in (failing, gone):
            app = S.register_app(sandbox, target_url=rcv.url, subscriptions=["contact.creation"])
            acct = S.portal(sandbox, install_app=app["client_id"])
            _simulate(sandbox, acct["account_id"], {"action": "create", "object_type": "contacts",
                                                    "properties": {"email": "r@example.com"}})
        assert failing.wait(lambda r: len(r.requests) >= 3)
        assert sandbox.sandbox.outbox.wait_idle(timeout=10)
    assert [e["attemptNumber"] for e in failing.events()][:3] == [0, 1, 2]
    assert len(gone.requests) == 1


def test_v1_signature_matches_the_documented_example():
    doc = json.loads((DOCS / "webhook_v1_validation_example.json").read_text())
    app = App(client_id="c", client_secret=doc["client_secret"], app_id=54321, redirect_uris=[], target_url=None,
              subscriptions=[])
    delivery = Delivery(platform="hubspot", account_id="1", url="https://example.com/hook",
                        body=doc["request_body"].encode(), headers={})
    headers = signer(app)(delivery)
    assert delivery.body.decode() == doc["request_body"]
    assert headers["X-HubSpot-Signature"] == doc["signature"]
