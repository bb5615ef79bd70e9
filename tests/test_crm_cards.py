"""Inside the CRM: the HubSpot CRM card (signed v3) and the Pipedrive JSON panel (JWT) for one record."""
from __future__ import annotations

import base64
import datetime as dt
import time
from urllib.parse import urlencode

import jwt
import pytest

from integration.db import session_scope
from integration.models import Decision, MergeSnapshot, ReviewItem, SlaTimer, Tenant
from sandbox.hubspot.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_v3

HUBSPOT_SECRET = "hs-card-secret-0123456789abcdefghijklmnop"
PIPEDRIVE_SECRET = "pd-card-secret-0123456789abcdefghijklmnop"
ROUTED = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture()
def cards(env, app, monkeypatch):
    """A HubSpot portal (77) and a Pipedrive company (555); contact 101 was routed, has an SLA and a duplicate."""
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET)
    monkeypatch.setenv("PIPEDRIVE_CLIENT_SECRET", PIPEDRIVE_SECRET)
    with session_scope(env["DATABASE_URL"]) as s:
        for platform, external_id in (("hubspot", "77"), ("pipedrive", "555")):
            tenant = Tenant(platform=platform, external_id=external_id, name=f"{platform} co")
            s.add(tenant)
            s.flush()
            s.add_all([
                Decision(tenant_id=tenant.id, idempotency_key="route:contact:101", kind="route",
                         object_type="contact", object_id="101", outcome="ben.owner@leadrelay.test",
                         reason="Rule 'Germany' (country DE) → ben.owner@leadrelay.test", created_at=ROUTED,
                         inputs={"rule": "Germany", "owner_id": "9"}),
                SlaTimer(tenant_id=tenant.id, key="sla:contact:101:hot:0", object_type="contact", object_id="101",
                         policy="hot", owner_id="9", due_at=ROUTED + dt.timedelta(minutes=15), status="breached"),
                ReviewItem(tenant_id=tenant.id, kind="dedup", object_type="contact", object_id="102",
                           other_object_id="101", reason="unsure", payload={"score": 0.81}),
                MergeSnapshot(tenant_id=tenant.id, object_type="contact", survivor_id="101", loser_id="99",
                              score=0.97, survivor_before={}, loser_before={}, status="merged"),
            ])
    return app.test_client()


def hubspot_get(client, query: dict, secret: str = HUBSPOT_SECRET, age_ms: int = 0, as_sent: bool = False):
    """Signed as HubSpot signs: the URL with its listed escapes (here %40) decoded, unless `as_sent`."""
    path = f"/cards/hubspot?{urlencode(query)}"
    signed = path if as_sent else path.replace("%40", "@")
    stamp = str(int(time.time() * 1000) - age_ms)
    signature = signature_v3(secret, "GET", f"http://localhost{signed}", b"", stamp)
    return client.get(path, headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp})


CARD = {"userId": "12", "userEmail": "rep@example.com", "associatedObjectId": "101",
        "associatedObjectType": "CONTACT", "portalId": "77", "email": "grace@navy.example"}


def test_hubspot_card_shows_owner_reason_sla_and_duplicates(cards):
    resp = hubspot_get(cards, CARD)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    results = resp.get_json()["results"]
    assert [r["title"] for r in results] == ["Owner: ben.owner@leadrelay.test", "SLA (hot): Breached",
                                            "Possible duplicate: 102", "Possible duplicate: 99"]
    assert [r["objectId"] for r in results] == [1, 2, 3, 4]
    why = {p["label"]: p["value"] for p in results[0]["properties"]}
    assert why["Why"] == "Rule 'Germany' (country DE) → ben.owner@leadrelay.test"
    assert why["Decided"] == int(ROUTED.timestamp() * 1000)
    status = results[1]["properties"][0]
    assert (status["dataType"], status["value"], status["optionType"]) == ("STATUS", "Breached", "DANGER")
    assert {p["label"]: p["value"] for p in results[2]["properties"]}["Status"] == "in review"
    assert {p["label"]: p["value"] for p in results[3]["properties"]}["Status"] == "merged"


def test_hubspot_card_accepts_the_url_signed_as_sent(cards):
    assert hubspot_get(cards, {**CARD, "userEmail": "a rep@example.com"}, as_sent=True).status_code == 200


def test_hubspot_card_refuses_a_bad_signature(cards):
    assert hubspot_get(cards, CARD, secret="not-the-app-secret").status_code == 401


def test_hubspot_card_refuses_a_stale_signature(cards):
    assert hubspot_get(cards, CARD, age_ms=6 * 60 * 1000).status_code == 401


def test_hubspot_card_refuses_an_unsigned_request(cards):
    assert cards.get(f"/cards/hubspot?{urlencode(CARD)}").status_code == 401


def test_hubspot_card_for_an_unknown_portal_is_404(cards):
    assert hubspot_get(cards, {**CARD, "portalId": "78"}).status_code == 404


def test_hubspot_card_for_a_record_leadrelay_never_saw_is_empty(cards):
    assert hubspot_get(cards, {**CARD, "associatedObjectId": "5"}).get_json() == {"results": []}


def pipedrive_get(client, query: dict, claims: dict | None = None, secret: str = PIPEDRIVE_SECRET):
    claims = claims if claims is not None else {"userId": int(query["userId"]),
                                                "companyId": int(query["companyId"]),
                                                "iat": int(time.time()), "exp": int(time.time()) + 300}
    token = jwt.encode(claims, secret, algorithm="HS256")
    return client.get(f"/cards/pipedrive?{urlencode({**query, 'token': token})}")


PANEL = {"resource": "person", "view": "details", "userId": "31", "companyId": "555", "selectedIds": "101",
         "isShared": "false"}


def test_pipedrive_panel_shows_owner_reason_sla_and_duplicates(cards):
    resp = pipedrive_get(cards, PANEL)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["data"] == [{
        "id": 101, "header": "Owner: ben.owner@leadrelay.test", "owner": "ben.owner@leadrelay.test",
        "reason": "Rule 'Germany' (country DE) → ben.owner@leadrelay.test", "decided_at": "2024-03-01T09:00:00+00:00",
        "sla": "Breached (hot)", "sla_due": "2024-03-01T09:15:00+00:00",
        "duplicates": "102 (in review, score 0.81); 99 (merged, score 0.97)"}]


def test_pipedrive_panel_refuses_a_token_signed_with_another_secret(cards):
    assert pipedrive_get(cards, PANEL, secret="someone-else-0123456789abcdefghijklmnopq").status_code == 401


def test_pipedrive_panel_refuses_an_expired_token(cards):
    stale = {"userId": 31, "companyId": 555, "iat": int(time.time()) - 900, "exp": int(time.time()) - 600}
    assert pipedrive_get(cards, PANEL, claims=stale).status_code == 401


def test_pipedrive_panel_refuses_a_token_for_another_company(cards):
    other = {"userId": 31, "companyId": 556, "exp": int(time.time()) + 300}
    assert pipedrive_get(cards, PANEL, claims=other).status_code == 401


def test_pipedrive_panel_refuses_a_request_without_token(cards):
    assert cards.get(f"/cards/pipedrive?{urlencode(PANEL)}").status_code == 401


def test_pipedrive_panel_accepts_the_panels_basic_auth_when_configured(cards, monkeypatch):
    monkeypatch.setenv("PIPEDRIVE_PANEL_USERNAME", "panel")
    monkeypatch.setenv("PIPEDRIVE_PANEL_PASSWORD", "panel-password-0123")
    good = base64.b64encode(b"panel:panel-password-0123").decode()
    bad = base64.b64encode(b"panel:guess").decode()
    path = f"/cards/pipedrive?{urlencode(PANEL)}"
    assert cards.get(path, headers={"Authorization": f"Basic {good}"}).status_code == 200
    assert cards.get(path, headers={"Authorization": f"Basic {bad}"}).status_code == 401


def test_pipedrive_panel_for_an_unknown_company_is_404(cards):
    assert pipedrive_get(cards, {**PANEL, "companyId": "556"}).status_code == 404
