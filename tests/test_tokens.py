"""Tokens that stay valid: refreshed before expiry and after a 401, one refresher at a time, re-auth when refused."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import Credential, EventRecord, Tenant
from oauth.crypto import EncryptionKeyError, TokenCipher
from oauth.jobs import verify_installation
from oauth.tokens import TokenStore
from tests.crm_helpers import browser, expire_access_tokens, install, new_account
from tests.workers import BurstWorker


@pytest.fixture()
def installed(crm_env, app, crm_sandbox):
    """Install HubSpot (`oauth`: the sandbox's token settings); returns (tenant_id, client, sandbox account id)."""
    def run(platform="hubspot", **oauth):
        crm_sandbox.sandbox.config.update({"oauth": {platform: oauth}})
        client = app.test_client()
        account = new_account(crm_sandbox, platform)
        assert install(client, crm_sandbox, platform, account["account_id"]).status_code == 302
        with session_scope(get_settings().database_url) as session:
            return session.scalar(select(Tenant.id)), client, account["account_id"]
    return run


def _drain(env) -> None:
    BurstWorker(["maintenance"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def _set_expiry(tenant_id: int, when: dt.datetime) -> None:
    with session_scope(get_settings().database_url) as session:
        session.scalar(Credential.for_tenant(tenant_id)).expires_at = when


def _status(tenant_id: int) -> str:
    with session_scope(get_settings().database_url) as session:
        return session.get(Tenant, tenant_id).status


def test_an_expired_access_token_is_refreshed_transparently_mid_job(installed, crm_env, crm_sandbox):
    tenant_id, _, account_id = installed(access_ttl=1)
    before = TokenStore().read(tenant_id)["access_token"]
    assert expire_access_tokens(crm_sandbox, account_id) >= 1  # the sandbox now refuses the old token
    _drain(crm_env)  # runs verify_installation, which calls the CRM with the tenant's token
    with session_scope(get_settings().database_url) as session:
        assert "verified_at" in session.get(Tenant, tenant_id).settings
    assert TokenStore().read(tenant_id)["access_token"] != before
    assert _status(tenant_id) == "active"


def test_a_401_before_the_expiry_we_know_of_refreshes_once_and_retries(installed, crm_env, crm_sandbox):
    tenant_id, _, account_id = installed()
    _set_expiry(tenant_id, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))  # we believe it is still good
    assert expire_access_tokens(crm_sandbox, account_id) >= 1  # the CRM does not
    job = verify_installation.enqueue(tenant_id)
    _drain(crm_env)
    assert job.latest_result().return_value == "verified"
    assert _status(tenant_id) == "active"


def test_two_workers_refreshing_at_once_use_a_rotating_refresh_token_once(installed, crm_sandbox):
    tenant_id, _, account_id = installed(access_ttl=1, rotate_refresh=True)
    assert expire_access_tokens(crm_sandbox, account_id) >= 1
    crm_sandbox.sandbox.config.update({"oauth": {"hubspot": {"access_ttl": 1800}}})  # the next token lives on
    barrier, results, errors = threading.Barrier(4), [], []

    def worker():
        barrier.wait()
        try:
            results.append(TokenStore().access_token(tenant_id))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1  # everyone got the one refreshed token
    assert _status(tenant_id) == "active"  # a second use of the rotated refresh token would have failed


def test_a_revoked_refresh_token_pauses_the_tenant_and_its_events_wait(installed, crm_env, crm_sandbox):
    tenant_id, client, account_id = installed(access_ttl=1)
    refresh = TokenStore().read(tenant_id)["refresh_token"]
    browser(crm_sandbox).delete(f"{crm_sandbox.tls_url}/oauth/v1/refresh-tokens/{refresh}").raise_for_status()
    with session_scope(get_settings().database_url) as session:
        for i in range(2):
            session.add(EventRecord(tenant_id=tenant_id, dedup_key=f"e{i}", platform="hubspot",
                                    object_type="contact", object_id=str(100 + i), kind="created",
                                    occurred_at=dt.datetime.now(dt.UTC)))
    assert expire_access_tokens(crm_sandbox, account_id) >= 1
    _drain(crm_env)  # the post-install verification calls the CRM with the dead token

    assert _status(tenant_id) == "reauth_required"
    job = Job.fetch(f"verify-installation-{tenant_id}", connection=Redis.from_url(crm_env["REDIS_URL"]))
    assert job.latest_result().return_value == "reauth-required"  # paused, not failed and retried
    assert Queue("maintenance", connection=Redis.from_url(crm_env["REDIS_URL"])).failed_job_registry.count == 0
    with session_scope(get_settings().database_url) as session:
        assert [e.status for e in session.scalars(EventRecord.for_tenant(tenant_id))] == ["received", "received"]
    page = client.get(f"/console/tenants/{tenant_id}").get_data(as_text=True)
    assert "2 events are waiting" in page and "Re-connect" in page
    # later jobs for the paused tenant stop before calling the CRM
    later = verify_installation.enqueue(tenant_id)
    _drain(crm_env)
    assert later.latest_result().return_value == "tenant-inactive"


def test_reconnecting_reactivates_a_paused_tenant(installed, crm_sandbox):
    from integration.admin.tenancy import mark_reauth_required

    tenant_id, client, account_id = installed()
    mark_reauth_required(tenant_id, "refresh refused: invalid_grant")
    assert _status(tenant_id) == "reauth_required"
    assert install(client, crm_sandbox, "hubspot", account_id).status_code == 302
    assert _status(tenant_id) == "active"


def test_key_rotation_keeps_old_ciphertexts_readable():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ciphertext = TokenCipher([old]).encrypt("at-123")
    rotated = TokenCipher([new, old])
    assert rotated.decrypt(ciphertext) == "at-123"
    assert TokenCipher([new]).decrypt(rotated.rotate(ciphertext)) == "at-123"
    with pytest.raises(EncryptionKeyError, match="keep the old key"):
        TokenCipher([new]).decrypt(ciphertext)
    with pytest.raises(EncryptionKeyError, match="Fernet keys"):
        TokenCipher(["not-a-key"])
