"""An agency's client invite links every portal whose admin uses it, until it expires or is revoked.

Each use is a row the agency sees ("used by Acme (HubSpot) on 5 Dec") and a decision in the portal's own audit log;
the agency's reach into each portal is what that portal's admin chose, never more.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import (
    Agency,
    AgencyInvite,
    AgencyInviteUse,
    ConsoleUser,
    Decision,
    Invitation,
    Membership,
    Tenant,
    utcnow,
)
from tests.console_helpers import sign_in
from tests.crm_helpers import install, new_account


@pytest.fixture()
def world(app, env):
    app.config["WTF_CSRF_ENABLED"] = False  # the flow is under test; CSRF has its own tests
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="Northwind Partners")
        s.add(agency)
        s.flush()
        boss = ConsoleUser(platform="hubspot", external_account_id="a", external_user_id="boss", name="Agnes Boss",
                           email="agnes@northwind.test", agency_id=agency.id, agency_role="admin")
        acme = Tenant(platform="hubspot", external_id="11", name="Acme")
        globex = Tenant(platform="pipedrive", external_id="22", name="Globex")
        ada = ConsoleUser(platform="hubspot", external_account_id="11", external_user_id="ada", name="Ada",
                          email="ada@acme.test")
        gil = ConsoleUser(platform="pipedrive", external_account_id="22", external_user_id="gil", name="Gil",
                          email="gil@globex.test")
        s.add_all([boss, acme, globex, ada, gil])
        s.flush()
        s.add_all([Membership(tenant_id=acme.id, user_id=ada.id, role="admin"),
                   Membership(tenant_id=globex.id, user_id=gil.id, role="admin")])
        return {"agency": agency.id, "boss": boss.id, "acme": acme.id, "globex": globex.id, "ada": ada.id,
                "gil": gil.id}


def _new_invite(client) -> str:
    page = client.post("/console/agency/invites").get_data(as_text=True)
    return re.search(r"data-invite-code>([^<]+)<", page).group(1)


def _join(app, user_id: int, tenant_id: int, code: str, grant: str = "admin"):
    return sign_in(app, user_id).post(f"/console/tenants/{tenant_id}/agency", data={"code": code, "grant": grant},
                                      follow_redirects=True)


def test_one_invite_links_two_portals_each_use_listed_and_audited(app, env, world):
    boss = sign_in(app, world["boss"])
    code = _new_invite(boss)
    joined = _join(app, world["ada"], world["acme"], code).get_data(as_text=True)
    assert "now managed by the agency Northwind Partners" in joined
    _join(app, world["gil"], world["globex"], code, grant="viewer")
    with session_scope(env["DATABASE_URL"]) as s:
        acme, globex = s.get(Tenant, world["acme"]), s.get(Tenant, world["globex"])
        assert (acme.agency_id, acme.agency_grant) == (world["agency"], "admin")
        assert (globex.agency_id, globex.agency_grant) == (world["agency"], "viewer")  # what Gil chose
        uses = s.scalars(select(AgencyInviteUse).order_by(AgencyInviteUse.id)).all()
        assert [(u.tenant_name, u.platform, u.used_by_email) for u in uses] == [
            ("Acme", "hubspot", "ada@acme.test"), ("Globex", "pipedrive", "gil@globex.test")]
        for tenant_id, who, grant in ((world["acme"], "ada@acme.test", "admin"),
                                      (world["globex"], "gil@globex.test", "viewer")):
            decision = s.scalar(select(Decision).where(Decision.tenant_id == tenant_id,
                                                       Decision.outcome == "agency-linked"))
            assert who in decision.reason and "Northwind Partners" in decision.reason
            assert decision.inputs["grant"] == grant
    page = boss.get("/console/agency").get_data(as_text=True)
    listed = page[page.index("data-invite-uses"):]
    today = utcnow().strftime("%-d %b")
    assert f"Acme (HubSpot) on {today}" in listed and f"Globex (Pipedrive) on {today}" in listed
    assert f'data-copy="{code}"' in page  # the code can be copied again from the agency page


def test_a_revoked_or_expired_invite_is_refused_with_a_reason(app, env, world):
    boss = sign_in(app, world["boss"])
    code = _new_invite(boss)
    with session_scope(env["DATABASE_URL"]) as s:
        invite_id = s.scalar(select(AgencyInvite.id))
    confirm = boss.get(f"/console/agency/invites/revoke?invite_id={invite_id}").get_data(as_text=True)
    assert "stops working at once" in confirm and "0 portals already linked" in confirm
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(AgencyInvite, invite_id).revoked_at is None  # the confirmation page changed nothing
    assert boss.post("/console/agency/invites/revoke", data={"invite_id": invite_id}).status_code == 303
    page = _join(app, world["ada"], world["acme"], code).get_data(as_text=True)
    assert "That invite code was revoked by the agency" in page

    fresh = _new_invite(boss)
    with session_scope(env["DATABASE_URL"]) as s:
        s.scalar(select(AgencyInvite).where(AgencyInvite.revoked_at.is_(None))).expires_at = (
            utcnow() - dt.timedelta(minutes=1))
    assert "That invite code has expired" in _join(app, world["gil"], world["globex"], fresh).get_data(as_text=True)
    assert "That invite code is not valid" in _join(app, world["gil"], world["globex"], "made-up").get_data(
        as_text=True)
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, world["acme"]).agency_id is None and s.get(Tenant, world["globex"]).agency_id is None
        assert s.scalars(select(AgencyInviteUse)).all() == []


def test_another_agency_cannot_see_or_revoke_the_invite(app, env, world):
    code = _new_invite(sign_in(app, world["boss"]))
    with session_scope(env["DATABASE_URL"]) as s:
        other = Agency(name="Rival")
        s.add(other)
        s.flush()
        rival = ConsoleUser(platform="hubspot", external_account_id="r", external_user_id="rival",
                            email="r@rival.test", agency_id=other.id, agency_role="admin")
        s.add(rival)
        s.flush()
        rival_id, invite_id = rival.id, s.scalar(select(AgencyInvite.id))
    client = sign_in(app, rival_id)
    assert code not in client.get("/console/agency").get_data(as_text=True)
    client.post("/console/agency/invites/revoke", data={"invite_id": invite_id})
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(AgencyInvite, invite_id).revoked_at is None


def test_installing_with_the_invite_link_records_a_use_for_each_portal(app, crm_env, crm_sandbox):
    app.config["WTF_CSRF_ENABLED"] = False
    with session_scope(crm_env["DATABASE_URL"]) as s:
        agency = Agency(name="Northwind Partners")
        s.add(agency)
        s.flush()
        boss = ConsoleUser(platform="hubspot", external_account_id="a", external_user_id="boss",
                           email="agnes@northwind.test", agency_id=agency.id, agency_role="admin")
        s.add(boss)
        s.flush()
        boss_id, agency_id = boss.id, agency.id
    code = _new_invite(sign_in(app, boss_id))
    for name in ("Initech", "Umbrella"):
        account = new_account(crm_sandbox, "hubspot", name=name)
        assert install(app.test_client(), crm_sandbox, "hubspot", account["account_id"],
                       start=f"/install/hubspot?invite={code}").status_code == 302
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenants = s.scalars(select(Tenant).order_by(Tenant.name)).all()
        assert [(t.name, t.agency_id, t.agency_grant) for t in tenants] == [
            ("initech.example.com", agency_id, "admin"), ("umbrella.example.com", agency_id, "admin")]
        assert sorted(u.tenant_name for u in s.scalars(select(AgencyInviteUse))) == [
            "initech.example.com", "umbrella.example.com"]
        assert all(s.scalar(select(Decision.id).where(Decision.tenant_id == t.id, Decision.outcome == "agency-linked"))
                   for t in tenants)


def test_an_invite_used_before_invites_were_reusable_stays_spent(database_url):
    """Migration 0009: the single use is kept as a use row, and the invite is revoked as of that use."""
    from sqlalchemy import text

    from integration.db import get_engine, migrate

    migrate(database_url, "0008_timer_step")
    engine = get_engine(database_url)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO agencies (id, name, created_at, updated_at) VALUES (1, 'Ag', :n, :n)"),
                     {"n": now})
        conn.execute(text("INSERT INTO tenants (id, platform, external_id, name, status, api_base, settings, "
                          "installed_at, created_at, updated_at) VALUES (5, 'hubspot', '5', 'Acme', 'active', '', "
                          "'{}', :n, :n, :n)"), {"n": now})
        conn.execute(text("INSERT INTO agency_invites (id, agency_id, code_hash, expires_at, used_at, tenant_id, "
                          "created_at, updated_at) VALUES (1, 1, 'h1', :later, :n, 5, :n, :n), "
                          "(2, 1, 'h2', :later, NULL, NULL, :n, :n)"),
                     {"n": now, "later": now + dt.timedelta(days=14)})
    migrate(database_url)
    with session_scope(database_url) as s:
        spent, fresh = s.get(AgencyInvite, 1), s.get(AgencyInvite, 2)
        assert spent.revoked_at is not None and fresh.revoked_at is None
        assert [(u.invite_id, u.tenant_id, u.tenant_name) for u in s.scalars(select(AgencyInviteUse))] == [
            (1, 5, "Acme")]


def test_an_agency_admin_revokes_a_team_invitation_after_a_confirmation(app, env, world):
    boss = sign_in(app, world["boss"])
    boss.post("/console/agency/team", data={"email": "new@northwind.test", "role": "viewer"})
    with session_scope(env["DATABASE_URL"]) as s:
        invitation_id = s.scalar(select(Invitation.id).where(Invitation.agency_id == world["agency"]))
    confirm = boss.get(f"/console/agency/team/revoke?invitation_id={invitation_id}").get_data(as_text=True)
    assert "The link sent to new@northwind.test stops working at once" in confirm
    # a tenant admin outside the agency cannot revoke it
    assert sign_in(app, world["ada"]).post("/console/agency/team/revoke",
                                           data={"invitation_id": invitation_id}).status_code == 403
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Invitation, invitation_id).revoked_at is None
    assert boss.post("/console/agency/team/revoke", data={"invitation_id": invitation_id}).status_code == 303
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Invitation, invitation_id).revoked_at is not None
    page = boss.get("/console/agency").get_data(as_text=True)
    assert "new@northwind.test" not in page[page.index("data-team"):]
