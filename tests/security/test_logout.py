"""Finding 10: a session cookie captured before logout kept working for 12 hours."""
from __future__ import annotations

from integration.db import session_scope
from integration.models import Tenant
from tests.console_helpers import add_members, sign_in


def _tenant_with_admin(env) -> tuple[int, int]:
    """(tenant id, its admin's console user id)."""
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="1", name="T")
        s.add(tenant)
        s.flush()
        return tenant.id, add_members(s, tenant.id, {"alice": "admin"})["alice"]


def test_a_cookie_copied_before_logout_is_dead_after_it(app, env):
    tenant_id, alice_id = _tenant_with_admin(env)
    alice = sign_in(app, alice_id)
    cookie = alice.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert alice.get(f"/console/tenants/{tenant_id}").status_code == 200

    app.config["WTF_CSRF_ENABLED"] = False
    assert alice.post("/logout").status_code == 302

    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    resp = thief.get(f"/console/tenants/{tenant_id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_logout_ends_only_this_browser(app, env):
    tenant_id, alice_id = _tenant_with_admin(env)
    laptop, phone = sign_in(app, alice_id), sign_in(app, alice_id)
    app.config["WTF_CSRF_ENABLED"] = False
    laptop.post("/logout")
    assert phone.get(f"/console/tenants/{tenant_id}").status_code == 200
    assert laptop.get(f"/console/tenants/{tenant_id}").status_code == 302
