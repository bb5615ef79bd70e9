"""Salesforce Outbound Messages through the real endpoint: the URL secret, the org check, the SOAP Ack."""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re

import pytest
from lxml import etree
from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.db import session_scope
from integration.models import EventRecord, Tenant, WebhookKey
from tests.webhook_helpers import FIXTURES

KEY, SECRET = "k-acme", "s-0123456789abcdef"


def message(name: str) -> bytes:
    return (FIXTURES / "salesforce" / f"{name}.xml").read_bytes()


def org_of(body: bytes) -> str:
    return re.search(rb"<OrganizationId>([^<]+)</OrganizationId>", body).group(1).decode()


@pytest.fixture()
def org(app, env):
    def install(name: str, status: str = "active", org_id: str | None = None) -> int:
        with session_scope(env["DATABASE_URL"]) as s:
            tenant = Tenant(platform="salesforce", external_id=org_id or org_of(message(name)), name="Acme",
                            status=status)
            s.add(tenant)
            s.flush()
            s.add(WebhookKey(tenant_id=tenant.id, key=KEY, secret_hash=hashlib.sha256(SECRET.encode()).hexdigest()))
            return tenant.id
    return install


def post(client, name: str, key: str = KEY, secret: str = SECRET):
    return client.post(f"/webhooks/salesforce/{key}/{secret}", data=message(name),
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})


def stored(env):
    with session_scope(env["DATABASE_URL"]) as s:
        return [(e.object_type, e.kind) for e in s.scalars(select(EventRecord))]


def jobs(env) -> int:
    return Queue("intake", connection=Redis.from_url(env["REDIS_URL"])).count


def test_lead_created_is_stored_and_acknowledged(client, org, env):
    org("Lead.created__ui")
    resp = post(client, "Lead.created__ui")
    assert resp.status_code == 200 and b"<Ack>true</Ack>" in resp.data
    assert stored(env) == [("lead", "created")] and jobs(env) == 1


def test_lead_updated(client, org, env):
    org("Lead.updated__ui_status")
    post(client, "Lead.updated__ui_status")
    assert stored(env) == [("lead", "updated")]


def test_missing_url_credentials_is_400(client, org, env):
    org("Lead.created__ui")
    assert client.post("/webhooks/salesforce", data=message("Lead.created__ui")).status_code == 400
    assert stored(env) == []


def test_a_wrong_secret_is_401(client, org, env):
    org("Lead.created__ui")
    assert post(client, "Lead.created__ui", secret="guessed").status_code == 401
    assert post(client, "Lead.created__ui", key="other").status_code == 401
    assert stored(env) == [] and jobs(env) == 0


def test_a_message_for_another_org_is_dropped(client, org, env):
    org("Lead.created__ui", org_id="00D000000000OTHERX")
    assert post(client, "Lead.created__ui").status_code == 200
    assert stored(env) == []


def test_the_same_notification_twice_is_one_event(client, org, env):
    org("Lead.created__ui")
    post(client, "Lead.created__ui")
    post(client, "Lead.created__ui")
    assert len(stored(env)) == 1 and jobs(env) == 1


def test_not_xml_is_400(client, org, env):
    org("Lead.created__ui")
    resp = client.post(f"/webhooks/salesforce/{KEY}/{SECRET}", data=b"<notifications>")
    assert resp.status_code == 400


def test_an_id_only_message_of_three_notifications_is_three_events_one_job_one_ack(client, org, env):
    org("Lead.changed__id_only_batch_of_3")
    before = dt.datetime.now(dt.UTC)
    resp = post(client, "Lead.changed__id_only_batch_of_3")
    assert resp.status_code == 200 and resp.data.count(b"<Ack>true</Ack>") == 1  # one Ack acknowledges them all
    assert stored(env) == [("lead", "changed")] * 3 and jobs(env) == 1
    with session_scope(env["DATABASE_URL"]) as s:
        stamps = [e.occurred_at.replace(tzinfo=dt.UTC) for e in s.scalars(select(EventRecord))]
    assert all(before <= stamp <= dt.datetime.now(dt.UTC) for stamp in stamps)  # no date sent: when it arrived


def test_a_notification_without_data_is_set_aside_and_the_others_are_taken_in(client, org, env):
    # Salesforce sends a record deleted before delivery as a notification "without data": refusing the message
    # would have Salesforce retry, then drop, the other notifications with it
    org("Lead.changed__id_only_batch_of_3")
    root = etree.fromstring(message("Lead.changed__id_only_batch_of_3"))
    second = root.xpath("//*[local-name()='Notification']")[1]
    sobject = second.xpath("*[local-name()='sObject']")[0]
    sobject.remove(sobject.xpath("*[local-name()='Id']")[0])
    resp = client.post(f"/webhooks/salesforce/{KEY}/{SECRET}", data=etree.tostring(root),
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    assert resp.status_code == 200 and resp.data.count(b"<Ack>true</Ack>") == 1
    assert stored(env) == [("lead", "changed")] * 2 and jobs(env) == 1


def test_more_than_100_notifications_is_a_400_that_says_so(client, org, env):
    org("Lead.changed__id_only_batch_of_3")
    root = etree.fromstring(message("Lead.changed__id_only_batch_of_3"))
    holder = root.xpath("//*[local-name()='notifications']")[0]
    first = holder.xpath("*[local-name()='Notification']")[0]
    for n in range(98):
        extra = copy.deepcopy(first)
        extra[0].text = f"04l8d{n:010d}"
        holder.append(extra)
    resp = client.post(f"/webhooks/salesforce/{KEY}/{SECRET}", data=etree.tostring(root),
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    assert resp.status_code == 400
    assert resp.json == {"error": "unparseable", "path": "notifications.Notification",
                         "problem": "101 notifications: an Outbound Message carries 1 to 100"}
    assert stored(env) == []
