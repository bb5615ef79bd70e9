"""Pipedrive webhook auth through the sandbox's webhook sender and the real app on a loopback port.

Pipedrive's webhooks service "will send these Basic Authentication credentials in the header of every HTTP request"
(https://pipedrive.readme.io/docs/guide-for-webhooks): pre-emptively, with no 401 challenge round trip. So the
delivery of a subscription made with the tenant's credentials is accepted on its first attempt, and one made
without credentials is refused 401 with a Basic challenge on every attempt (a failed delivery for Pipedrive, retried
after 3, 30 and 150 s and counted towards a ban: https://pipedrive.readme.io/docs/guide-for-webhooks-v2), never
stored as an event.
"""
from __future__ import annotations

import hashlib
import time

from sqlalchemy import select

from integration.db import session_scope
from integration.models import EventRecord, Tenant, WebhookKey
from tests.crm_helpers import browser, new_account

KEY, SECRET = "pd-auth-key", "pd-auth-secret-0123456789"


def _subscribe(http, account: dict, url: str, **credentials: str) -> None:
    resp = http.post(f"{account['api_base']}/api/v1/webhooks", headers={
        "Authorization": f"Bearer {account['access_token']}"}, json={
        "subscription_url": url, "event_action": "create", "event_object": "person", "version": "2.0",
        **credentials}, timeout=10)
    resp.raise_for_status()


def _deliveries(http, server, account_id: str, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        got = [d for d in http.get(f"{server.url}/_sandbox/webhooks", timeout=10).json()["deliveries"]
               if d["account_id"] == account_id]
        if len(got) >= count or time.time() > deadline:
            return got
        time.sleep(0.05)


def test_credentials_go_with_every_delivery_and_a_delivery_without_them_is_refused_with_a_challenge(
        crm_env, live_app, crm_sandbox):
    account = new_account(crm_sandbox, "pipedrive", name="Auth Co")
    company_id = account["account_id"].removeprefix("pd-")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="pipedrive", external_id=company_id, name="Auth Co", settings={})
        s.add(tenant)
        s.flush()
        s.add(WebhookKey(tenant_id=tenant.id, key=KEY, secret_hash=hashlib.sha256(SECRET.encode()).hexdigest()))
    crm_sandbox.sandbox.config.update({"webhook_retry_scale": 0.001})
    http, url = browser(crm_sandbox), f"{live_app}/webhooks/pipedrive"
    _subscribe(http, account, url, http_auth_user=KEY, http_auth_password=SECRET)
    _subscribe(http, account, url)  # no credentials: Pipedrive sends no Authorization header at all
    http.post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate", json={
        "action": "create", "object_type": "persons", "properties": {"name": "Hedy Lamarr"}},
        timeout=10).raise_for_status()

    got = _deliveries(http, crm_sandbox, account["account_id"], count=5)  # 1 accepted + 1 refused and 3 retries
    by_scheme: dict[str | None, list[tuple[int, int]]] = {}
    for delivery in got:
        by_scheme.setdefault(delivery["auth_scheme"], []).append((delivery["attempt"], delivery["status"]))
    assert by_scheme["Basic"] == [(0, 200)]  # accepted at once: the credentials came with the first request
    assert by_scheme[None] == [(0, 401), (1, 401), (2, 401), (3, 401)]  # retried as it was, never with credentials
    assert {d["challenge"] for d in got if d["status"] == 401} == {'Basic realm="LeadRelay webhooks", charset="UTF-8"'}
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert [(e.object_type, e.kind) for e in s.scalars(select(EventRecord))] == [("contact", "created")]
