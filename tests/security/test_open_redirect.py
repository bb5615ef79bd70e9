"""Finding 4: `/login/hubspot?next=/%09/evil.example/` sent the browser to //evil.example/ after sign-in."""
from __future__ import annotations

import pytest

from marketplace.access import safe_local_path
from tests.crm_helpers import install, new_account

HOSTILE = ["/\t/evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example", "https://evil.example/",
           "/\n/evil.example", "/ /evil.example", "/\x00/evil.example", "javascript:alert(1)", "/\u3000/evil.example",
           "/\u2028/evil.example", "evil.example", "", "/" + "a" * 3000]


@pytest.mark.parametrize("target", HOSTILE)
def test_only_plain_local_paths_are_accepted(target):
    assert safe_local_path(target) is None


@pytest.mark.parametrize("target", ["/console/", "/console/tenants/3/rules?edit=2", "/invitations/abc_-9"])
def test_local_paths_pass(target):
    assert safe_local_path(target) == target


def test_a_tab_in_next_does_not_redirect_off_site_after_sign_in(app, crm_env, crm_sandbox):
    account = new_account(crm_sandbox, "hubspot")
    browser = app.test_client()
    resp = install(browser, crm_sandbox, "hubspot", account["account_id"],
                   start="/login/hubspot?next=/%09/evil.example/")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/console/"


def test_a_local_next_is_kept(app, crm_env, crm_sandbox):
    account = new_account(crm_sandbox, "hubspot")
    resp = install(app.test_client(), crm_sandbox, "hubspot", account["account_id"],
                   start="/login/hubspot?next=/console/agency")
    assert resp.headers["Location"] == "/console/agency"


def test_publish_next_stays_in_the_console(app, env, wire_adapters):
    from integration.db import session_scope
    from integration.models import RuleSetVersion, Tenant
    from tests.console_helpers import add_members, sign_in, simulate
    from tests.fakes import FakeCRMAdapter

    app.config["WTF_CSRF_ENABLED"] = False
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="1", name="T")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, body={"version": 1}))
        ids, tenant_id = add_members(s, tenant.id, {"alice": "admin"}), tenant.id
    alice = sign_in(app, ids["alice"])
    wire_adapters(lambda _tenant_id: FakeCRMAdapter())
    simulate(alice, env["REDIS_URL"], tenant_id, 1)  # only a simulated version can be published
    resp = alice.post(f"/console/tenants/{tenant_id}/rules/1/publish",
                      data={"next": "/console/\t/evil.example", "confirm": "yes"})
    assert resp.headers["Location"] == f"/console/tenants/{tenant_id}/rules"


def test_no_page_leaks_its_url_in_a_referer_or_is_framed(client):
    # an OAuth callback URL carries a code and an invitation URL a token: neither may travel in a Referer
    resp = client.get("/oauth/pipedrive/callback?code=abc&state=x")
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"
