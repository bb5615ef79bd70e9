"""Finding 1: a viewer became tenant admin by creating an agency, which took in every tenant they could see."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Agency, ConsoleUser, Membership, RuleSetVersion, Tenant
from tests.console_helpers import sign_in

RULES = {"body": "version: 1\nowners: [{email: v@example.com}]\nfallback: {owner: v@example.com}\n"}


@pytest.fixture()
def world(app, env):
    app.config["WTF_CSRF_ENABLED"] = False  # authorization is under test here; CSRF has its own tests
    with session_scope(env["DATABASE_URL"]) as s:
        viewed = Tenant(platform="hubspot", external_id="101", name="Viewed Co")
        owned = Tenant(platform="pipedrive", external_id="202", name="Owned Co")
        victor = ConsoleUser(platform="hubspot", external_account_id="9", external_user_id="v", email="v@example.com")
        s.add_all([viewed, owned, victor])
        s.flush()
        s.add_all([Membership(tenant_id=viewed.id, user_id=victor.id, role="viewer"),
                   Membership(tenant_id=owned.id, user_id=victor.id, role="admin")])
        return {"viewed": viewed.id, "owned": owned.id, "victor": victor.id}


def _agency_boss(env, tenant_id: int, grant: str) -> tuple[int, int]:
    """An agency managing the tenant with `grant`, and its agency admin: (agency id, admin's user id)."""
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="Ag")
        s.add(agency)
        s.flush()
        tenant = s.get(Tenant, tenant_id)
        tenant.agency_id, tenant.agency_grant = agency.id, grant
        boss = ConsoleUser(platform="salesforce", external_account_id="00D1", external_user_id="005b",
                           email="boss@agency.test", agency_id=agency.id, agency_role="admin")
        s.add(boss)
        s.flush()
        return agency.id, boss.id


def test_creating_an_agency_takes_in_only_tenants_the_creator_administers(app, env, world):
    victor = sign_in(app, world["victor"])
    assert victor.post(f"/console/tenants/{world['viewed']}/rules", data=RULES).status_code == 403
    assert victor.post("/console/agency", data={"name": "Victor's agency"}).status_code == 302

    # still a viewer of the tenant he only views: the escalation is closed
    assert victor.post(f"/console/tenants/{world['viewed']}/rules", data=RULES).status_code == 403
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, world["viewed"]).agency_id is None
        owned = s.get(Tenant, world["owned"])
        assert (owned.agency_id, owned.agency_grant) == (s.scalar(select(Agency.id)), "admin")
        assert len(s.scalars(RuleSetVersion.for_tenant(world["viewed"])).all()) == 0


def test_an_agency_role_never_exceeds_what_the_tenant_granted(app, env, world):
    boss = sign_in(app, _agency_boss(env, world["viewed"], "viewer")[1])
    assert boss.get(f"/console/tenants/{world['viewed']}").status_code == 200
    assert boss.post(f"/console/tenants/{world['viewed']}/rules", data=RULES).status_code == 403
    assert boss.post(f"/console/tenants/{world['viewed']}/members",
                     data={"email": "boss@agency.test", "role": "admin"}).status_code == 403


def test_only_the_tenants_own_admin_moves_it_between_agencies(app, env, world):
    boss = sign_in(app, _agency_boss(env, world["owned"], "admin")[1])
    # the agency admin manages the tenant, but cannot change the agency's own access or hand it elsewhere
    assert boss.post(f"/console/tenants/{world['owned']}/agency/grant", data={"grant": "admin"}).status_code == 403
    assert boss.post(f"/console/tenants/{world['owned']}/agency", data={"code": "x"}).status_code == 403
    victor = sign_in(app, world["victor"])
    assert victor.post(f"/console/tenants/{world['owned']}/agency/grant", data={"grant": "viewer"}).status_code == 303
    assert boss.post(f"/console/tenants/{world['owned']}/rules", data=RULES).status_code == 403


def test_templates_reach_only_portals_that_granted_the_agency_admin(app, env, world):
    from integration.models import AgencyTemplate

    agency_id, boss_id = _agency_boss(env, world["viewed"], "viewer")
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(RuleSetVersion(tenant_id=world["viewed"], version=1, body={"version": 1}, status="published"))
        template = AgencyTemplate(agency_id=agency_id, name="Base", body={"version": 1}, created_by="boss",
                                  rollouts={str(world["viewed"]): {"version": 1}})
        s.add(template)
        s.flush()
        template_id = template.id
    boss = sign_in(app, boss_id)
    form = {"template_id": template_id, "tenant_id": world["viewed"]}
    assert boss.post("/console/agency/templates/rollout", data=form).status_code == 303
    assert boss.post("/console/agency/templates/publish", data=form).status_code == 404
    with session_scope(env["DATABASE_URL"]) as s:
        assert len(s.scalars(RuleSetVersion.for_tenant(world["viewed"])).all()) == 1  # no draft was rolled out
