"""Pipedrive webhooks v2 through the real endpoint: Basic auth with the tenant's webhook key and secret."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.crm.echo import RedisWriteLog
from integration.db import session_scope
from integration.models import Decision, EventRecord, Tenant, WebhookKey
from tests.webhook_helpers import fixture_bytes

KEY, SECRET = "pd-key-1", "pd-secret-0123456789"


def basic(user: str = KEY, password: str = SECRET) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


@pytest.fixture()
def company(app, env):
    def install(fixture: str, integration_user: str | None = None, company_id: int | None = None) -> int:
        meta = json.loads(fixture_bytes("pipedrive", fixture))["meta"]
        with session_scope(env["DATABASE_URL"]) as s:
            tenant = Tenant(platform="pipedrive", external_id=str(company_id or meta["company_id"]), name="Acme",
                            settings={"integration_user_id": integration_user} if integration_user else {})
            s.add(tenant)
            s.flush()
            s.add(WebhookKey(tenant_id=tenant.id, key=KEY, secret_hash=hashlib.sha256(SECRET.encode()).hexdigest()))
            return tenant.id
    return install


def post(client, fixture: str, **auth):
    return client.post("/webhooks/pipedrive", data=fixture_bytes("pipedrive", fixture), headers=basic(**auth))


def stored(env):
    with session_scope(env["DATABASE_URL"]) as s:
        return [(e.object_type, e.kind) for e in s.scalars(select(EventRecord))]


def jobs(env) -> int:
    return Queue("intake", connection=Redis.from_url(env["REDIS_URL"])).count


def test_person_created(client, company, env):
    company("create.person__ui")
    assert post(client, "create.person__ui").status_code == 200
    assert stored(env) == [("contact", "created")] and jobs(env) == 1


def test_person_merged_away(client, company, env):
    company("delete.person__merged")
    post(client, "delete.person__merged")
    assert stored(env) == [("contact", "merged")]


def test_a_merge_moves_what_leadrelay_keeps_of_the_merged_away_person_to_the_survivor(client, company, env):
    # person 2 merged into person 1, which keeps its id: the same remap as HubSpot's, with new_id = the survivor
    tenant_id = company("delete.person__merged")
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(Decision(tenant_id=tenant_id, idempotency_key="route:contact:2", kind="route", object_type="contact",
                       object_id="2", outcome="ana@acme.test", reason="r"))
    post(client, "delete.person__merged")
    post(client, "delete.person__merged")  # Pipedrive retried: nothing moves twice
    with session_scope(env["DATABASE_URL"]) as s:
        [moved] = s.scalars(select(Decision)).all()
        assert (moved.idempotency_key, moved.object_id, moved.inputs["merged_from"]) == ("route:contact:1", "1", "2")


def test_missing_basic_auth_is_401_with_a_basic_challenge(client, company, env):
    company("create.person__ui")
    resp = client.post("/webhooks/pipedrive", data=fixture_bytes("pipedrive", "create.person__ui"))
    assert resp.status_code == 401 and stored(env) == []
    assert resp.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_wrong_password_is_401_with_the_same_challenge(client, company, env):
    company("create.person__ui")
    for wrong in ({"password": "nope"}, {"user": "someone-else"}):
        resp = post(client, "create.person__ui", **wrong)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert stored(env) == [] and jobs(env) == 0


def test_a_delivery_with_a_unix_timestamp_and_numeric_ids_is_stored(client, company, env):
    # as https://prismatic.io/docs/example-payloads/pipedrive/triggers/pipedriveTrigger.json shows one (quoted in
    # tests/adapters/test_pipedrive_webhook_examples.py): 400 before, so Pipedrive retried it and counted a ban
    from tests.adapters.test_pipedrive_webhook_examples import PRISMATIC_V2_DEAL, as_json

    body = as_json(PRISMATIC_V2_DEAL)
    company("create.person__ui", company_id=12882925)
    assert client.post("/webhooks/pipedrive", data=body, headers=basic()).status_code == 200
    assert stored(env) == [("deal", "updated")]


def test_a_v1_body_is_acknowledged_and_left_to_the_sweep(client, company, env):
    from tests.adapters.test_pipedrive_webhook_examples import DISSERTATION_V1_DEAL, as_json

    company("create.person__ui", company_id=12345678)
    resp = client.post("/webhooks/pipedrive", data=as_json(DISSERTATION_V1_DEAL), headers=basic())
    assert resp.status_code == 200 and stored(env) == [] and jobs(env) == 0


def test_duplicate_delivery_is_one_event(client, company, env):
    company("create.person__ui")
    post(client, "create.person__ui")
    post(client, "create.person__ui")
    assert len(stored(env)) == 1 and jobs(env) == 1


def test_our_own_api_write_echoed_back_makes_no_job(client, company, env):
    body = json.loads(fixture_bytes("pipedrive", "change.person__own_write_api"))
    tenant_id = company("change.person__own_write_api", integration_user=str(body["meta"]["user_id"]))
    RedisWriteLog(Redis.from_url(env["REDIS_URL"]), tenant_id).remember("contact", str(body["meta"]["entity_id"]),
                                                                        ["*"])
    assert post(client, "change.person__own_write_api").status_code == 200
    assert stored(env) == [] and jobs(env) == 0
