"""Finding 2: any CRM user became a console admin, and swapped the tenant's tokens, by re-running the install.

Each CRM says whether the approving user is an admin in its own way (HubSpot superAdmin, Salesforce Modify All
Data / Customize Application, Pipedrive is_admin); the sandbox emulates each, and these tests install as the
account's admin or as a plain user through the real OAuth flow.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import ConsoleUser, Decision, Membership, Tenant
from oauth.tokens import TokenStore
from tests.crm_helpers import install, new_account

PLATFORMS = ["hubspot", "pipedrive", "salesforce"]
USERS = [{"email": "ada.admin@acme.test", "name": "Ada Admin", "admin": True},
         {"email": "rick.rep@acme.test", "name": "Rick Rep", "admin": False}]


def _db(crm_env):
    return session_scope(crm_env["DATABASE_URL"])


def _state(crm_env) -> dict:
    with _db(crm_env) as s:
        tenant = s.scalar(select(Tenant))
        if tenant is None:
            return {}
        roles = {u.email: role for role, u in s.execute(
            select(Membership.role, ConsoleUser).join(ConsoleUser, ConsoleUser.id == Membership.user_id))}
        return {"tenant_id": tenant.id, "integration_user": tenant.settings.get("integration_user_id"),
                "installed_by": tenant.settings.get("installed_by"), "roles": roles,
                "access_token": TokenStore().read(tenant.id)["access_token"]}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_plain_crm_user_reinstalling_changes_nothing(app, crm_env, crm_sandbox, platform):
    account = new_account(crm_sandbox, platform, name=f"Acme {platform}", users=USERS)
    admin_browser, rep_browser = app.test_client(), app.test_client()
    assert install(admin_browser, crm_sandbox, platform, account["account_id"],
                   as_user="ada.admin@acme.test").status_code == 302
    before = _state(crm_env)
    assert before["roles"] == {"ada.admin@acme.test": "admin"}

    attack = install(rep_browser, crm_sandbox, platform, account["account_id"], as_user="rick.rep@acme.test")

    assert attack.status_code == 403
    assert "Only a" in attack.get_data(as_text=True) and "nothing changed" in attack.get_data(as_text=True)
    after = _state(crm_env)
    assert after == before  # no role for the rep, same tokens, same integration user
    # the rep is signed in, but sees nothing of the tenant
    assert rep_browser.get(f"/console/tenants/{before['tenant_id']}").status_code == 404
    with _db(crm_env) as s:
        refused = s.scalars(select(Decision).where(Decision.kind == "access")).all()
        assert [d.outcome for d in refused] == ["installed", "reinstall-refused"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_plain_crm_user_cannot_install_for_the_account(app, crm_env, crm_sandbox, platform):
    account = new_account(crm_sandbox, platform, name=f"Acme {platform}", users=USERS)
    resp = install(app.test_client(), crm_sandbox, platform, account["account_id"], as_user="rick.rep@acme.test")
    assert resp.status_code == 403
    assert "Nothing was installed" in resp.get_data(as_text=True)
    assert _state(crm_env) == {}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_crm_admin_may_reconnect_and_it_is_audited(app, crm_env, crm_sandbox, platform):
    users = [*USERS, {"email": "second.admin@acme.test", "name": "Second Admin", "admin": True}]
    account = new_account(crm_sandbox, platform, name=f"Acme {platform}", users=users)
    install(app.test_client(), crm_sandbox, platform, account["account_id"], as_user="ada.admin@acme.test")
    before = _state(crm_env)
    resp = install(app.test_client(), crm_sandbox, platform, account["account_id"], as_user="second.admin@acme.test")
    assert resp.status_code == 302
    after = _state(crm_env)
    assert after["access_token"] != before["access_token"]
    assert after["installed_by"] == "second.admin@acme.test"
    assert after["roles"] == {"ada.admin@acme.test": "admin", "second.admin@acme.test": "admin"}
    with _db(crm_env) as s:
        outcomes = [d.outcome for d in s.scalars(select(Decision).where(Decision.kind == "access")
                                                 .order_by(Decision.id))]
    assert outcomes == ["installed", "reconnected"]
