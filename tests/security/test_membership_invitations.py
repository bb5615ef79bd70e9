"""Finding 3: membership was granted to whoever signed in with a matching email, from any CRM account.

Console identities are keyed by (platform, CRM account, CRM user id); adding a member creates an invitation that
only a sign-in through the tenant's own CRM account with that email, or the single-use link, can accept.
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select, update

from integration.db import session_scope
from integration.models import ConsoleUser, Invitation, Membership, Tenant
from tests.crm_helpers import install, new_account

USERS = [{"email": "ada.admin@acme.test", "name": "Ada Admin", "admin": True},
         {"email": "carol@acme.test", "name": "Carol Colleague", "admin": False}]


def _sign_in(app, server, platform: str, account_id: str, email: str):
    browser = app.test_client()
    resp = install(browser, server, platform, account_id, start=f"/login/{platform}", as_user=email)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return browser


def _installed(app, crm_env, crm_sandbox, platform: str = "hubspot"):
    account = new_account(crm_sandbox, platform, name="Acme", users=USERS)
    ada = app.test_client()
    assert install(ada, crm_sandbox, platform, account["account_id"], as_user="ada.admin@acme.test").status_code == 302
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant_id = s.scalar(select(Tenant.id))
    return account, ada, tenant_id


def _invite(ada, tenant_id: int, email: str, role: str) -> str:
    page = ada.post(f"/console/tenants/{tenant_id}/members", data={"email": email, "role": role,
                                                                   "csrf_token": _csrf(ada, tenant_id)})
    assert page.status_code == 200, page.get_data(as_text=True)
    return re.search(r"data-invitation-link>([^<]+)<", page.get_data(as_text=True)).group(1)


def _csrf(client, tenant_id: int) -> str:
    page = client.get(f"/console/tenants/{tenant_id}/members").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _role(crm_env, email: str, tenant_id: int, account_id: str | None = None) -> str | None:
    with session_scope(crm_env["DATABASE_URL"]) as s:
        stmt = select(Membership.role).join(ConsoleUser, ConsoleUser.id == Membership.user_id).where(
            ConsoleUser.email == email, Membership.tenant_id == tenant_id)
        if account_id is not None:
            stmt = stmt.where(ConsoleUser.external_account_id == account_id)
        return s.scalar(stmt)


def test_a_lookalike_email_from_another_crm_account_gets_nothing(app, crm_env, crm_sandbox):
    account, ada, tenant_id = _installed(app, crm_env, crm_sandbox)
    # the attacker's own HubSpot portal, with a user named after Ada's colleague
    evil = new_account(crm_sandbox, "hubspot", name="Evil", users=[
        {"email": "carol@acme.test", "name": "Not Carol", "admin": True}])
    attacker = _sign_in(app, crm_sandbox, "hubspot", evil["account_id"], "carol@acme.test")
    _invite(ada, tenant_id, "carol@acme.test", "admin")
    attacker = _sign_in(app, crm_sandbox, "hubspot", evil["account_id"], "carol@acme.test")  # signs in again

    assert attacker.get(f"/console/tenants/{tenant_id}").status_code == 404
    assert _role(crm_env, "carol@acme.test", tenant_id) is None

    # the real Carol, a user of the tenant's own portal with that email, is admitted by her sign-in
    carol = _sign_in(app, crm_sandbox, "hubspot", account["account_id"], "carol@acme.test")
    assert carol.get(f"/console/tenants/{tenant_id}").status_code == 200
    assert _role(crm_env, "carol@acme.test", tenant_id, account["account_id"]) == "admin"
    assert _role(crm_env, "carol@acme.test", tenant_id, evil["account_id"]) is None
    assert attacker.get(f"/console/tenants/{tenant_id}").status_code == 404


def test_two_console_users_with_one_email_are_two_people(app, crm_env, crm_sandbox):
    account, ada, tenant_id = _installed(app, crm_env, crm_sandbox)
    evil = new_account(crm_sandbox, "hubspot", name="Evil", users=[
        {"email": "ada.admin@acme.test", "name": "Ada Admin", "admin": True}])
    twin = _sign_in(app, crm_sandbox, "hubspot", evil["account_id"], "ada.admin@acme.test")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(ConsoleUser).where(ConsoleUser.email == "ada.admin@acme.test")).all()) == 2
    assert twin.get(f"/console/tenants/{tenant_id}").status_code == 404


def test_the_invitation_link_works_once_for_whoever_the_admin_sent_it_to(app, crm_env, crm_sandbox):
    _account, ada, tenant_id = _installed(app, crm_env, crm_sandbox)
    link = _invite(ada, tenant_id, "dan@agency.test", "viewer")
    path = link.split("localhost", 1)[1]
    org = new_account(crm_sandbox, "salesforce", name="Dan's org", users=[
        {"email": "dan@agency.test", "name": "Dan", "admin": True}])
    dan = _sign_in(app, crm_sandbox, "salesforce", org["account_id"], "dan@agency.test")
    page = dan.get(path)
    assert page.status_code == 200 and "as <strong>viewer</strong>" in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert dan.post(path, data={"csrf_token": token}).status_code == 303
    assert dan.get(f"/console/tenants/{tenant_id}").status_code == 200
    assert dan.post(f"/console/tenants/{tenant_id}/members",  # a viewer invites nobody
                    data={"email": "x@agency.test", "role": "admin", "csrf_token": token}).status_code == 403

    # used: nobody else gets in with it
    other_org = new_account(crm_sandbox, "pipedrive", name="Other", users=[
        {"email": "eve@other.test", "name": "Eve", "admin": True}])
    eve = _sign_in(app, crm_sandbox, "pipedrive", other_org["account_id"], "eve@other.test")
    assert eve.get(path).status_code == 404
    assert eve.get(f"/console/tenants/{tenant_id}").status_code == 404


def test_an_expired_or_revoked_invitation_is_refused(app, crm_env, crm_sandbox):
    _account, ada, tenant_id = _installed(app, crm_env, crm_sandbox)
    expired = _invite(ada, tenant_id, "late@agency.test", "admin").split("localhost", 1)[1]
    revoked = _invite(ada, tenant_id, "gone@agency.test", "admin").split("localhost", 1)[1]
    with session_scope(crm_env["DATABASE_URL"]) as s:
        s.execute(update(Invitation).where(Invitation.email == "late@agency.test")
                  .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
        gone = s.scalar(select(Invitation.id).where(Invitation.email == "gone@agency.test"))
    assert ada.post(f"/console/tenants/{tenant_id}/invitations/{gone}/revoke",
                    data={"csrf_token": _csrf(ada, tenant_id)}).status_code == 303
    org = new_account(crm_sandbox, "hubspot", name="Late", users=[{"email": "late@agency.test", "name": "Late",
                                                                                "admin": True}])
    late = _sign_in(app, crm_sandbox, "hubspot", org["account_id"], "late@agency.test")
    assert late.get(expired).status_code == 404
    assert late.get(revoked).status_code == 404
    assert late.get(f"/console/tenants/{tenant_id}").status_code == 404


def test_one_person_links_a_second_crm_sign_in_explicitly(app, crm_env, crm_sandbox):
    _account, ada, tenant_id = _installed(app, crm_env, crm_sandbox)
    org = new_account(crm_sandbox, "salesforce", name="Ada's org", users=[
        {"email": "ada.admin@acme.test", "name": "Ada Admin", "admin": True}])
    # before linking, Ada's Salesforce sign-in is somebody else to LeadRelay
    assert _sign_in(app, crm_sandbox, "salesforce", org["account_id"], "ada.admin@acme.test").get(
        f"/console/tenants/{tenant_id}").status_code == 404
    resp = install(ada, crm_sandbox, "salesforce", org["account_id"], start="/console/account/link/salesforce",
                   as_user="ada.admin@acme.test")
    assert resp.status_code == 302
    again = _sign_in(app, crm_sandbox, "salesforce", org["account_id"], "ada.admin@acme.test")
    assert again.get(f"/console/tenants/{tenant_id}").status_code == 200
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(ConsoleUser).where(ConsoleUser.email == "ada.admin@acme.test")).all()) == 1
