"""HubSpot webhooks through the real endpoint: one short test per fixture and one per check (STYLE rules 7-8)."""
from __future__ import annotations

import json

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.crm.echo import RedisWriteLog
from integration.db import session_scope
from integration.models import EventRecord, Tenant
from tests.webhook_helpers import HUBSPOT_SECRET, fixture_bytes, hubspot_headers, portal_of, signed_webhook


@pytest.fixture()
def hub(app, env, monkeypatch):
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET)
    monkeypatch.setenv("HUBSPOT_APP_ID", "4242")

    def install(fixture: str, status: str = "active") -> int:
        with session_scope(env["DATABASE_URL"]) as s:
            tenant = Tenant(platform="hubspot", external_id=portal_of("hubspot", fixture), name="Acme", status=status)
            s.add(tenant)
            s.flush()
            return tenant.id
    return install


def stored(env) -> list[tuple]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(e.object_type, e.object_id, e.kind, e.source)
                for e in s.scalars(select(EventRecord).order_by(EventRecord.id))]


def jobs(env) -> int:
    return Queue("intake", connection=Redis.from_url(env["REDIS_URL"])).count


# one test per fixture ------------------------------------------------------------------------------

def test_contact_creation(client, hub, env):
    hub("contact.creation__ui")
    assert signed_webhook(client, "hubspot", "contact.creation__ui").status_code == 200
    assert stored(env) == [("contact", "107", "created", "CRM_UI:userId:9000003")] and jobs(env) == 1


def test_contact_creation_batch_of_3(client, hub, env):
    hub("contact.creation__batch_of_3")
    assert signed_webhook(client, "hubspot", "contact.creation__batch_of_3").status_code == 200
    assert [e[2] for e in stored(env)] == ["created", "created", "created"] and jobs(env) == 1


def test_contact_owner_change(client, hub, env):
    hub("contact.propertyChange__hubspot_owner_id_ui")
    signed_webhook(client, "hubspot", "contact.propertyChange__hubspot_owner_id_ui")
    assert [e[2] for e in stored(env)] == ["updated"] and jobs(env) == 1


def test_contact_merge(client, hub, env):
    hub("contact.merge__ui")
    signed_webhook(client, "hubspot", "contact.merge__ui")
    assert [e[2] for e in stored(env)] == ["merged"]


def test_contact_deletion(client, hub, env):
    hub("contact.deletion__ui")
    signed_webhook(client, "hubspot", "contact.deletion__ui")
    assert [e[2] for e in stored(env)] == ["deleted"]


def test_task_completed(client, hub, env):
    hub("object.propertyChange__task_completed")
    signed_webhook(client, "hubspot", "object.propertyChange__task_completed")
    assert [(e[0], e[2]) for e in stored(env)] == [("task", "updated")]


# one test per check ---------------------------------------------------------------------------------

def test_unknown_platform_is_404(client):
    assert client.post("/webhooks/zoho", data=b"[]").status_code == 404


def test_secret_not_configured_is_401(client, hub, env, monkeypatch):
    hub("contact.creation__ui")
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    assert signed_webhook(client, "hubspot", "contact.creation__ui").status_code == 401 and stored(env) == []


def test_missing_signature_is_400(client, hub, env):
    resp = client.post("/webhooks/hubspot", data=fixture_bytes("hubspot", "contact.creation__ui"))
    assert resp.status_code == 400 and stored(env) == [] and jobs(env) == 0


def test_bad_signature_is_401(client, hub, env):
    hub("contact.creation__ui")
    assert signed_webhook(client, "hubspot", "contact.creation__ui", secret="wrong").status_code == 401
    assert stored(env) == [] and jobs(env) == 0


def test_stale_timestamp_is_401(client, hub, env):
    hub("contact.creation__ui")
    assert signed_webhook(client, "hubspot", "contact.creation__ui", age_ms=6 * 60 * 1000).status_code == 401
    assert stored(env) == []


def test_unparseable_body_is_400(client, hub, env):
    body = b'[{"eventId": "x"'
    resp = client.post("/webhooks/hubspot", data=body, headers=hubspot_headers(body, "http://localhost/webhooks/hubspot"))
    assert resp.status_code == 400 and stored(env) == []


def test_unknown_portal_is_acknowledged_and_dropped(client, env, hub):
    assert signed_webhook(client, "hubspot", "contact.creation__ui").status_code == 200
    assert stored(env) == [] and jobs(env) == 0


def test_uninstalled_portal_is_acknowledged_and_dropped(client, hub, env):
    hub("contact.creation__ui", status="uninstalled")
    assert signed_webhook(client, "hubspot", "contact.creation__ui").status_code == 200
    assert stored(env) == [] and jobs(env) == 0


def test_paused_portal_keeps_the_event_without_a_job(client, hub, env):
    hub("contact.creation__ui", status="reauth_required")
    assert signed_webhook(client, "hubspot", "contact.creation__ui").status_code == 200
    assert len(stored(env)) == 1 and jobs(env) == 0


def test_ignored_event_is_acknowledged_without_a_job(client, hub, env):
    hub("object.creation__call")
    assert signed_webhook(client, "hubspot", "object.creation__call").status_code == 200
    assert stored(env) == [] and jobs(env) == 0


def test_unsupported_event_is_acknowledged_without_a_job(client, hub, env):
    hub("object.creation__lead")
    assert signed_webhook(client, "hubspot", "object.creation__lead").status_code == 200
    assert stored(env) == [] and jobs(env) == 0


def test_an_old_event_type_item_and_an_unreadable_one_do_not_cost_the_batch_its_other_events(client, hub, env):
    # older payloads name the event `eventType` (behaviour 7 of issue #14); one item missing its objectId is set
    # aside with its reason, and the rest of the delivery is taken in
    hub("contact.creation__batch_of_3")
    items = json.loads(fixture_bytes("hubspot", "contact.creation__batch_of_3"))
    items[1]["eventType"] = items[1].pop("subscriptionType")
    del items[2]["objectId"]
    body = json.dumps(items).encode()
    url = "http://localhost/webhooks/hubspot"
    assert client.post("/webhooks/hubspot", data=body, headers=hubspot_headers(body, url)).status_code == 200
    assert [(e[1], e[2]) for e in stored(env)] == [(str(items[0]["objectId"]), "created"),
                                                   (str(items[1]["objectId"]), "created")]
    assert jobs(env) == 1


def test_duplicate_delivery_is_one_event_and_one_job(client, hub, env):
    hub("contact.creation__ui")
    signed_webhook(client, "hubspot", "contact.creation__ui")
    signed_webhook(client, "hubspot", "contact.creation__ui")
    assert len(stored(env)) == 1 and jobs(env) == 1


def test_our_own_write_echoed_back_makes_no_job(client, hub, env):
    tenant_id = hub("contact.propertyChange__own_write")
    RedisWriteLog(Redis.from_url(env["REDIS_URL"]), tenant_id).remember("contact", "202", ["lifecycle_stage"])
    assert signed_webhook(client, "hubspot", "contact.propertyChange__own_write").status_code == 200
    assert stored(env) == [] and jobs(env) == 0


def test_an_integration_change_we_did_not_make_is_processed(client, hub, env):
    hub("contact.propertyChange__own_write")  # same signal, but our write log has nothing for it
    signed_webhook(client, "hubspot", "contact.propertyChange__own_write")
    assert len(stored(env)) == 1 and jobs(env) == 1


def test_a_burst_of_100_events_for_one_object_is_one_job(client, hub, env):
    import json

    hub("contact.creation__ui")
    template = json.loads(fixture_bytes("hubspot", "contact.propertyChange__hubspot_owner_id_ui"))[0]
    template["portalId"] = int(portal_of("hubspot", "contact.creation__ui"))
    for n in range(10):  # 10 deliveries of 10 events, all about contact 107
        batch = [{**template, "eventId": 5000 + n * 10 + i, "objectId": 107} for i in range(10)]
        body = json.dumps(batch).encode()
        resp = client.post("/webhooks/hubspot", data=body,
                           headers=hubspot_headers(body, "http://localhost/webhooks/hubspot"))
        assert resp.status_code == 200
    assert len(stored(env)) == 100 and jobs(env) == 1
