"""One person, several CRMs: an email never links anything; signing in through both does, and can be undone."""
from __future__ import annotations

from sqlalchemy import select

from integration.db import session_scope
from integration.models import ConsoleIdentity, ConsoleUser, Decision, Tenant
from tests.crm_helpers import install, new_account

ADA = "ada.admin@acme.test"


def _sign_in(app, server, platform: str, account_id: str, email: str = ADA):
    browser = app.test_client()
    assert install(browser, server, platform, account_id, start=f"/login/{platform}", as_user=email).status_code == 302
    return browser


def _notice(page: str) -> str:
    start = page.index("This is a new LeadRelay login")
    return page[start:page.index("<", start)]


def _installed(app, crm_env, crm_sandbox):
    app.config["WTF_CSRF_ENABLED"] = False  # the flow is under test; CSRF has its own tests
    account = new_account(crm_sandbox, "hubspot", name="Acme", users=[{"email": ADA, "name": "Ada", "admin": True}])
    ada = app.test_client()
    assert install(ada, crm_sandbox, "hubspot", account["account_id"], as_user=ADA).status_code == 302
    org = new_account(crm_sandbox, "salesforce", name="Ada's org", users=[{"email": ADA, "name": "Ada",
                                                                          "admin": True}])
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant_id = s.scalar(select(Tenant.id))
    return ada, tenant_id, org


def _link_salesforce(ada, crm_sandbox, org) -> None:
    resp = install(ada, crm_sandbox, "salesforce", org["account_id"], start="/console/account/link/salesforce",
                   as_user=ADA)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/me")


def test_a_second_crm_with_the_same_email_is_told_how_to_link_and_gets_nothing(app, crm_env, crm_sandbox):
    _ada, tenant_id, org = _installed(app, crm_env, crm_sandbox)
    other = _sign_in(app, crm_sandbox, "salesforce", org["account_id"])
    home = other.get("/console/").get_data(as_text=True)
    assert "If you already use LeadRelay through another CRM" in home and "link this Salesforce" in home
    # the same words for an email nobody uses: the notice never tells who else uses LeadRelay, nor through which CRM
    stranger = new_account(crm_sandbox, "salesforce", name="Stranger's org",
                           users=[{"email": "nobody@else.test", "name": "Nobody", "admin": True}])
    fresh = _sign_in(app, crm_sandbox, "salesforce", stranger["account_id"], email="nobody@else.test")
    assert _notice(fresh.get("/console/").get_data(as_text=True)) == _notice(home)
    assert ADA not in _notice(home) and "HubSpot" not in _notice(home)
    assert other.get(f"/console/tenants/{tenant_id}").status_code == 404
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(ConsoleUser).where(ConsoleUser.email == ADA)).all()) == 2  # not merged
        assert s.scalars(select(ConsoleIdentity)).all() == []
    # the notice is for a first sign-in only
    again = _sign_in(app, crm_sandbox, "salesforce", org["account_id"])
    assert "If you already use LeadRelay" not in again.get("/console/").get_data(as_text=True)


def test_linking_is_listed_on_your_profile_and_audited(app, crm_env, crm_sandbox):
    ada, tenant_id, org = _installed(app, crm_env, crm_sandbox)
    _link_salesforce(ada, crm_sandbox, org)
    page = ada.get("/console/me").get_data(as_text=True)
    assert 'data-identity="hubspot"' in page and 'data-identity="salesforce"' in page
    assert "First sign-in" in page and "Link a Pipedrive sign-in" in page
    assert _sign_in(app, crm_sandbox, "salesforce", org["account_id"]).get(
        f"/console/tenants/{tenant_id}").status_code == 200
    with session_scope(crm_env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.tenant_id == tenant_id,
                                                   Decision.outcome == "identity-linked"))
        assert "linked their Salesforce sign-in" in decision.reason and decision.inputs["platform"] == "salesforce"


def test_unlinking_asks_first_never_takes_the_last_sign_in_and_is_audited(app, crm_env, crm_sandbox):
    ada, tenant_id, org = _installed(app, crm_env, crm_sandbox)
    only = ada.get("/console/me").get_data(as_text=True)
    assert "Your only sign-in" in only and "Unlink…" not in only
    assert ada.post("/console/me/identities/unlink", data={"identity": "0"}).status_code == 303
    _link_salesforce(ada, crm_sandbox, org)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        linked_id = s.scalar(select(ConsoleIdentity.id))
    confirm = ada.get(f"/console/me/identities/unlink?identity={linked_id}").get_data(as_text=True)
    assert "Unlink your Salesforce sign-in?" in confirm and "will no longer open this LeadRelay login" in confirm
    assert ada.post("/console/me/identities/unlink", data={"identity": str(linked_id)}).status_code == 303
    again = _sign_in(app, crm_sandbox, "salesforce", org["account_id"])
    assert again.get(f"/console/tenants/{tenant_id}").status_code == 404  # a separate person again
    assert ada.get(f"/console/tenants/{tenant_id}").status_code == 200  # the HubSpot sign-in keeps its access
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert s.scalar(select(Decision.reason).where(Decision.outcome == "identity-unlinked")).startswith(ADA)


def test_unlinking_the_first_sign_in_leaves_the_linked_one_in_its_place(app, crm_env, crm_sandbox):
    ada, tenant_id, org = _installed(app, crm_env, crm_sandbox)
    _link_salesforce(ada, crm_sandbox, org)
    assert ada.post("/console/me/identities/unlink", data={"identity": "0"}).status_code == 303
    with session_scope(crm_env["DATABASE_URL"]) as s:
        user = s.scalar(select(ConsoleUser).where(ConsoleUser.email == ADA))
        assert (user.platform, user.external_account_id) == ("salesforce", org["account_id"])
        assert s.scalars(select(ConsoleIdentity)).all() == []
    assert _sign_in(app, crm_sandbox, "salesforce", org["account_id"]).get(
        f"/console/tenants/{tenant_id}").status_code == 200
    hubspot = app.test_client()
    account_id = None
    with session_scope(crm_env["DATABASE_URL"]) as s:
        account_id = s.scalar(select(Tenant.external_id).where(Tenant.id == tenant_id))
    assert install(hubspot, crm_sandbox, "hubspot", account_id, start="/login/hubspot", as_user=ADA).status_code == 302
    assert hubspot.get(f"/console/tenants/{tenant_id}").status_code == 404
