"""Finding 12: webhook credentials are bound to their platform, through the real endpoints.

The attack: a Salesforce tenant's webhook key and secret (in its Outbound Message URL, so known to anyone who can
read the org's workflow setup) were accepted as Pipedrive Basic auth, and a Pipedrive-shaped body naming the org
as its company was stored and processed as that tenant's event.
"""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.db import session_scope
from integration.models import EventRecord, Tenant, WebhookKey
from tests.webhook_helpers import FIXTURES, HUBSPOT_SECRET, fixture_bytes, hubspot_headers, portal_of

ORG = "00D8d0000000001EAA"  # the org of tests/fixtures/salesforce/*.xml
SF_KEY, SF_SECRET = "sf-key-1", "sf-secret-0123456789"
PD_KEY, PD_SECRET = "pd-key-1", "pd-secret-0123456789"


def add_tenant(env, platform: str, external_id: str, key: str | None = None, secret: str | None = None) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform=platform, external_id=external_id, name=f"{platform} tenant")
        s.add(tenant)
        s.flush()
        if key:
            s.add(WebhookKey(tenant_id=tenant.id, key=key, secret_hash=hashlib.sha256(secret.encode()).hexdigest()))
        return tenant.id


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def pipedrive_body(company_id: str) -> bytes:
    body = json.loads(fixture_bytes("pipedrive", "create.person__ui"))
    body["meta"]["company_id"] = company_id
    return json.dumps(body).encode()


def outbound_message(org: str = ORG) -> bytes:
    return (FIXTURES / "salesforce" / "Lead.created__ui.xml").read_bytes().replace(ORG.encode(), org.encode())


def stored(env) -> list[tuple[int, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(e.tenant_id, e.platform) for e in s.scalars(select(EventRecord))]


def jobs(env) -> int:
    return Queue("intake", connection=Redis.from_url(env["REDIS_URL"])).count


@pytest.fixture()
def salesforce_tenant(app, env) -> int:
    return add_tenant(env, "salesforce", ORG, SF_KEY, SF_SECRET)


def test_a_salesforce_key_is_refused_as_pipedrive_basic_auth_like_a_wrong_password(client, env, salesforce_tenant):
    attack = client.post("/webhooks/pipedrive", data=pipedrive_body(ORG), headers=basic(SF_KEY, SF_SECRET))
    wrong_password = client.post("/webhooks/pipedrive", data=pipedrive_body(ORG), headers=basic(SF_KEY, "nope"))
    assert attack.status_code == 401
    assert (attack.status_code, attack.get_json()) == (wrong_password.status_code, wrong_password.get_json())
    assert stored(env) == [] and jobs(env) == 0


def test_the_same_key_still_works_on_its_own_platform(client, env, salesforce_tenant):
    resp = client.post(f"/webhooks/salesforce/{SF_KEY}/{SF_SECRET}", data=outbound_message(),
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    assert resp.status_code == 200 and b"<Ack>true</Ack>" in resp.data
    assert stored(env) == [(salesforce_tenant, "salesforce")] and jobs(env) == 1


def test_a_pipedrive_key_is_refused_in_a_salesforce_outbound_message_url(client, env):
    add_tenant(env, "pipedrive", ORG, PD_KEY, PD_SECRET)  # even with the org's id as its company id
    resp = client.post(f"/webhooks/salesforce/{PD_KEY}/{PD_SECRET}", data=outbound_message(),
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    assert resp.status_code == 401 and resp.get_json() == {"error": "invalid-signature"}
    assert stored(env) == [] and jobs(env) == 0


def test_an_outbound_message_for_another_org_is_dropped_for_the_tenant_in_the_url(client, env, salesforce_tenant,
                                                                                   caplog):
    other_org = "00D8d0000000009EAA"
    add_tenant(env, "salesforce", other_org)
    resp = client.post(f"/webhooks/salesforce/{SF_KEY}/{SF_SECRET}", data=outbound_message(other_org),
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    assert resp.status_code == 200  # acknowledged, so Salesforce stops retrying; nothing stored for anyone
    assert stored(env) == [] and jobs(env) == 0
    assert "salesforce.webhook.account-mismatch" in caplog.messages


def test_a_pipedrive_event_for_another_company_is_dropped_for_the_key_tenant(client, env, caplog):
    add_tenant(env, "pipedrive", "13000001", PD_KEY, PD_SECRET)
    add_tenant(env, "pipedrive", "13000002")
    resp = client.post("/webhooks/pipedrive", data=pipedrive_body("13000002"), headers=basic(PD_KEY, PD_SECRET))
    assert resp.status_code == 200 and stored(env) == [] and jobs(env) == 0
    assert "pipedrive.webhook.account-mismatch" in caplog.messages


def test_a_hubspot_signed_event_never_lands_on_another_platforms_tenant_with_that_id(client, env, monkeypatch):
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET)
    fixture = "contact.creation__ui"
    add_tenant(env, "pipedrive", portal_of("hubspot", fixture), PD_KEY, PD_SECRET)
    body = fixture_bytes("hubspot", fixture)
    resp = client.post("/webhooks/hubspot", data=body, headers=hubspot_headers(body, "http://localhost/webhooks/hubspot"))
    assert resp.status_code == 200  # signed by HubSpot for a portal with no HubSpot installation: dropped
    assert stored(env) == [] and jobs(env) == 0


def test_a_key_with_a_nul_or_past_the_column_size_is_a_401_not_a_database_error(client, env, salesforce_tenant):
    for key in ("sf-key-1\x00", "k" * 65, ""):
        resp = client.post("/webhooks/pipedrive", data=pipedrive_body(ORG), headers=basic(key, SF_SECRET))
        assert resp.status_code == 401, key
