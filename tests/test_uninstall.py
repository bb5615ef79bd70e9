"""Uninstall and disconnect: the grant is revoked and the tenant's data erased, with a record of it."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from redis import Redis
from sqlalchemy import func, select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import (
    Credential,
    DataErasure,
    Decision,
    DedupCalibration,
    DedupKey,
    EventRecord,
    IntakeKey,
    IntakeSubmission,
    ReviewItem,
    Tenant,
)
from oauth.tokens import TokenStore
from tests.conftest import APPS, PUBLIC_URL
from tests.crm_helpers import browser, install, new_account
from tests.workers import BurstWorker

TENANT_TABLES = (Credential, DedupKey, EventRecord, Decision, ReviewItem, IntakeSubmission, IntakeKey,
                 DedupCalibration)


def _fill(tenant_id: int) -> None:
    now = dt.datetime.now(dt.UTC)
    with session_scope(get_settings().database_url) as session:
        session.add_all([
            EventRecord(tenant_id=tenant_id, dedup_key="e1", platform="x", object_type="contact", object_id="1",
                        kind="created", occurred_at=now),
            Decision(tenant_id=tenant_id, idempotency_key="route-1", kind="route", object_type="contact",
                     object_id="1", outcome="owner 7", reason="round robin"),
            DedupKey(tenant_id=tenant_id, key_type="email", key_value="a@b.co", object_type="contact", object_id="1"),
            ReviewItem(tenant_id=tenant_id, kind="dedup", object_type="contact", object_id="1", reason="maybe 2"),
            DedupCalibration(tenant_id=tenant_id, status="fitted", reason="", estimate={}, surnames={"hopper": 0.1},
                             records_used=900, pairs_used=600),
        ])
        key = IntakeKey(tenant_id=tenant_id, key_hash="k" * 64, key_enc=b"x", secret_enc=b"y")
        session.add(key)
        session.flush()
        # a person's own words, email and phone, as a web form sent them
        session.add(IntakeSubmission(tenant_id=tenant_id, public_id="sub_1", key_id=key.id,
                                     fields={"email": "grace@navy.example", "message": "call me"}))


def _counts(tenant_id: int) -> dict[str, int]:
    with session_scope(get_settings().database_url) as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m).where(m.tenant_id == tenant_id))
                for m in TENANT_TABLES}


def _drain(env) -> None:
    BurstWorker(["maintenance"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


@pytest.fixture()
def uninstall_url_to(crm_sandbox):
    """Point the sandbox's Pipedrive app uninstall callback at a live app; restore afterwards."""
    http = browser(crm_sandbox)

    def register(url: str) -> None:
        http.post(f"{crm_sandbox.url}/_sandbox/apps", json={
            "platform": "pipedrive", **APPS["pipedrive"], "uninstall_url": url,
            "redirect_uris": [f"{PUBLIC_URL}/oauth/pipedrive/callback"]}).raise_for_status()

    yield register
    register(f"{PUBLIC_URL}/oauth/pipedrive/uninstall")


def test_pipedrive_uninstall_callback_erases_the_tenant(crm_env, app, crm_sandbox, live_app, uninstall_url_to):
    uninstall_url_to(f"{live_app}/oauth/pipedrive/uninstall")
    client = app.test_client()
    account = new_account(crm_sandbox, "pipedrive")
    install(client, crm_sandbox, "pipedrive", account["account_id"])
    with session_scope(get_settings().database_url) as session:
        tenant_id = session.scalar(select(Tenant.id))
    _fill(tenant_id)

    result = browser(crm_sandbox).post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate",
                                       json={"action": "uninstall", "client_id": APPS["pipedrive"]["client_id"]})
    assert result.json()["callback_status"] == 200
    with session_scope(get_settings().database_url) as session:
        assert session.get(Tenant, tenant_id).status == "uninstalled"
    _drain(crm_env)

    assert _counts(tenant_id) == {"credentials": 0, "dedup_keys": 0, "events": 0, "decisions": 0,
                                  "review_items": 0, "intake_submissions": 0, "intake_keys": 0,
                                  "dedup_calibrations": 0}
    with session_scope(get_settings().database_url) as session:
        erasure = session.scalar(select(DataErasure))
        assert erasure.tenant_id == tenant_id and erasure.completed_at is not None
        assert erasure.removed["events"] == 1 and erasure.removed["credentials"] == 1
        assert "uninstalled in Pipedrive" in erasure.reason


def test_uninstall_callback_with_wrong_credentials_changes_nothing(crm_env, app):
    resp = app.test_client().delete("/oauth/pipedrive/uninstall", json={"company_id": 1},
                                    headers={"Authorization": "Basic bm90OnJpZ2h0"})
    assert resp.status_code == 401


def test_disconnect_in_the_console_revokes_and_erases(crm_env, app, crm_sandbox):
    client = app.test_client()
    account = new_account(crm_sandbox, "hubspot")
    install(client, crm_sandbox, "hubspot", account["account_id"])
    with session_scope(get_settings().database_url) as session:
        tenant_id = session.scalar(select(Tenant.id))
    refresh = TokenStore().read(tenant_id)["refresh_token"]
    _fill(tenant_id)
    page = client.get(f"/console/tenants/{tenant_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    assert client.post(f"/console/tenants/{tenant_id}/disconnect").status_code == 400  # no CSRF token
    with session_scope(get_settings().database_url) as session:
        name = session.get(Tenant, tenant_id).name
    # without the account name typed on the confirmation page nothing happens
    refused = client.post(f"/console/tenants/{tenant_id}/disconnect", data={"csrf_token": token})
    assert refused.status_code == 400 and "Nothing was changed" in refused.get_data(as_text=True)
    assert _counts(tenant_id)["credentials"] == 1
    resp = client.post(f"/console/tenants/{tenant_id}/disconnect", data={"csrf_token": token, "confirm_name": name})
    assert resp.status_code == 302
    _drain(crm_env)

    assert _counts(tenant_id)["credentials"] == 0 and _counts(tenant_id)["events"] == 0
    # the grant is gone at HubSpot too
    info = browser(crm_sandbox).get(f"{crm_sandbox.tls_url}/oauth/v1/refresh-tokens/{refresh}")
    assert info.status_code in (400, 404)
    with session_scope(get_settings().database_url) as session:
        assert "revoked" in session.scalar(select(DataErasure.reason))


def test_pipedrive_uninstall_also_arrives_on_the_callback_url(crm_env, app):
    import base64

    creds = base64.b64encode(f"{APPS['pipedrive']['client_id']}:{APPS['pipedrive']['client_secret']}".encode())
    resp = app.test_client().delete("/oauth/pipedrive/callback", json={"company_id": 424242},
                                    headers={"Authorization": f"Basic {creds.decode()}"})
    assert resp.status_code == 200  # an unknown company is acknowledged, nothing to erase
