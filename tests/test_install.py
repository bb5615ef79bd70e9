"""Installing from each CRM's marketplace, end to end against the sandbox's OAuth servers."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import ConsoleUser, Credential, Membership, Tenant
from oauth.tokens import TokenStore
from tests.crm_helpers import authorize, install, new_account

PLATFORMS = ["hubspot", "pipedrive", "salesforce"]


@pytest.fixture()
def installer(crm_env, app):
    return app.test_client()


def _tenants():
    with session_scope(get_settings().database_url) as session:
        return session.scalars(select(Tenant)).all()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_install_creates_one_tenant_even_when_installed_twice(installer, crm_sandbox, platform, crm_env):
    account = new_account(crm_sandbox, platform, name=f"Acme {platform}")
    first = install(installer, crm_sandbox, platform, account["account_id"])
    assert first.status_code == 302 and re.search(r"/console/tenants/\d+/onboarding$", first.headers["Location"])
    second = install(installer, crm_sandbox, platform, account["account_id"])
    assert second.headers["Location"] == first.headers["Location"]

    tenants = _tenants()
    assert len(tenants) == 1
    tenant = tenants[0]
    assert (tenant.platform, tenant.status) == (platform, "active")
    assert tenant.external_id and tenant.api_base.startswith(crm_sandbox.tls_url)
    with session_scope(get_settings().database_url) as session:
        user = session.scalar(select(ConsoleUser))
        assert session.scalar(select(Membership.role).where(Membership.user_id == user.id)) == "admin"
    # the admin lands in onboarding, signed in
    page = installer.get(first.headers["Location"])
    assert page.status_code == 200 and "LeadRelay is installed" in page.get_data(as_text=True)
    # follow-up work was queued, not done in the request
    assert Queue("maintenance", connection=Redis.from_url(crm_env["REDIS_URL"])).count >= 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tokens_are_not_readable_in_the_database_file(installer, crm_sandbox, platform, crm_env):
    account = new_account(crm_sandbox, platform)
    install(installer, crm_sandbox, platform, account["account_id"])
    tenant = _tenants()[0]
    token = TokenStore().read(tenant.id)
    raw = b"".join(p.read_bytes() for p in Path(crm_env["DATABASE_URL"].split("///")[1]).parent.glob("leadrelay.db*"))
    assert token["access_token"].encode() not in raw
    assert token.get("refresh_token", "x").encode() not in raw
    with session_scope(get_settings().database_url) as session:
        assert session.scalar(select(func.count()).select_from(Credential)) == 1


def test_a_tampered_state_is_refused(installer, crm_sandbox):
    account = new_account(crm_sandbox, "hubspot")
    callback = authorize(installer, crm_sandbox, "hubspot", account["account_id"])
    tampered = re.sub(r"state=[^&]+", "state=forged", callback)
    resp = installer.get(tampered)
    assert resp.status_code == 400
    assert "was not started here or was already used" in resp.get_data(as_text=True)
    assert _tenants() == []


def test_a_missing_state_is_refused(installer, crm_sandbox):
    account = new_account(crm_sandbox, "hubspot")
    callback = authorize(installer, crm_sandbox, "hubspot", account["account_id"])
    resp = installer.get(re.sub(r"&?state=[^&]+", "", callback))
    assert resp.status_code == 400 and _tenants() == []


def test_a_callback_cannot_be_replayed(installer, crm_sandbox):
    account = new_account(crm_sandbox, "hubspot")
    callback = authorize(installer, crm_sandbox, "hubspot", account["account_id"])
    assert installer.get(callback).status_code == 302
    assert installer.get(callback).status_code == 400  # state is single-use


def test_cancelled_consent_says_what_to_do(installer):
    installer.get("/install/hubspot")
    with installer.session_transaction() as s:
        state = s["oauth"]["state"]
    resp = installer.get(f"/oauth/hubspot/callback?error=access_denied&state={state}")
    assert resp.status_code == 400 and "Start again and approve access" in resp.get_data(as_text=True)


def test_unknown_platform_is_404(installer):
    assert installer.get("/install/zoho").status_code == 404


def test_missing_app_credentials_is_a_clear_error(installer, monkeypatch):
    monkeypatch.delenv("PIPEDRIVE_CLIENT_SECRET")
    resp = installer.get("/install/pipedrive")
    assert resp.status_code == 503 and "PIPEDRIVE_CLIENT_SECRET" in resp.get_data(as_text=True)


def test_sign_in_with_a_crm_creates_the_console_user_and_logout_ends_it(installer, crm_sandbox):
    account = new_account(crm_sandbox, "pipedrive")
    resp = install(installer, crm_sandbox, "pipedrive", account["account_id"], start="/login/pipedrive")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/")
    assert _tenants() == []  # signing in installs nothing
    assert installer.get("/console/").status_code == 200
    page = installer.get("/console/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert installer.post("/logout", data={"csrf_token": token}).status_code == 302
    assert installer.get("/console/").status_code == 302  # back to the sign-in page


def test_a_salesforce_instance_url_outside_the_allowed_hosts_is_refused(installer, crm_sandbox):
    import responses

    account = new_account(crm_sandbox, "salesforce")
    callback = authorize(installer, crm_sandbox, "salesforce", account["account_id"])
    forged = {"access_token": "00Dx!forged", "refresh_token": "5Aep-forged", "token_type": "Bearer",
              "instance_url": "https://169.254.169.254", "id": f"{crm_sandbox.tls_url}/id/00D/005",
              "issued_at": "1700000000000", "signature": "x"}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(responses.POST, f"{crm_sandbox.tls_url}/services/oauth2/token", json=forged)
        resp = installer.get(callback)
    assert resp.status_code == 400
    assert "does not trust" in resp.get_data(as_text=True) and "169.254.169.254" in resp.get_data(as_text=True)
    assert _tenants() == []


def test_a_pipedrive_api_domain_outside_the_allowed_hosts_is_refused(installer, crm_sandbox):
    import responses

    account = new_account(crm_sandbox, "pipedrive")
    callback = authorize(installer, crm_sandbox, "pipedrive", account["account_id"])
    forged = {"access_token": "at", "refresh_token": "rt", "token_type": "Bearer", "expires_in": 3600,
              "api_domain": "https://attacker.example.com"}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{crm_sandbox.tls_url}/oauth/token", json=forged)
        resp = installer.get(callback)
    assert resp.status_code == 400 and _tenants() == []


def test_installing_with_an_agency_invite_links_the_tenant_to_the_agency(installer, crm_sandbox, app, crm_env):
    from integration.models import Agency, AgencyInvite
    from marketplace.invitations import token_hash

    with session_scope(get_settings().database_url) as session:
        agency = Agency(name="Growth Co")
        session.add(agency)
        session.flush()
        import datetime as dt

        session.add(AgencyInvite(agency_id=agency.id, code_hash=token_hash("join-growth"),
                                 expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
    account = new_account(crm_sandbox, "hubspot")
    install(installer, crm_sandbox, "hubspot", account["account_id"], start="/install/hubspot?invite=join-growth")
    [tenant] = _tenants()
    assert tenant.agency_id is not None


@pytest.mark.parametrize(("public_url", "expected"), [(None, "http://localhost"),
                                                      ("https://leadrelay.example.test", "https://leadrelay.example.test")])
def test_webhooks_are_subscribed_under_the_public_url_or_the_install_requests_host(installer, crm_sandbox, crm_env,
                                                                                  monkeypatch, public_url, expected):
    from tests.workers import BurstWorker

    if public_url:
        monkeypatch.setenv("LEADRELAY_PUBLIC_URL", public_url)
    account = new_account(crm_sandbox, "pipedrive")
    install(installer, crm_sandbox, "pipedrive", account["account_id"])
    BurstWorker(["maintenance"], connection=Redis.from_url(crm_env["REDIS_URL"])).work(burst=True)
    hooks = crm_sandbox.sandbox.store.account(account["account_id"]).extra["webhooks"].values()
    assert {hook["subscription_url"] for hook in hooks} == {f"{expected}/webhooks/pipedrive"}
