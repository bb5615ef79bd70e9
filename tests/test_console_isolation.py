"""Tenant isolation, tried on every console route (enumerated from the app, not a sample)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Agency, AgencyInvite, ConsoleUser, Decision, Membership, RuleSetVersion, Tenant
from tests.console_helpers import sign_in


@pytest.fixture()
def world(app, env):
    """Tenants A, B (no agency), C, D (agency X); users with different roles."""
    app.config["WTF_CSRF_ENABLED"] = False  # so a 404/403 is never masked by a missing form token
    ids = {}
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="X Agency")
        s.add(agency)
        s.flush()
        for key, platform, ext, agency_id in (("A", "hubspot", "1", None), ("B", "pipedrive", "2", None),
                                              ("C", "salesforce", "00D3", agency.id), ("D", "hubspot", "4", agency.id)):
            t = Tenant(platform=platform, external_id=ext, name=f"Tenant {key}", agency_id=agency_id,
                       agency_grant="admin" if agency_id else None)
            s.add(t)
            s.flush()
            ids[key] = t.id
        users = {"alice": (None, None), "victor": (None, None), "bob": (None, None),
                 "agnes": (agency.id, "admin"), "vera": (agency.id, "viewer")}
        for name, (agency_id, role) in users.items():
            u = ConsoleUser(platform="hubspot", external_user_id=name, email=f"{name}@example.com", name=name,
                            agency_id=agency_id, agency_role=role)
            s.add(u)
            s.flush()
            ids[name] = u.id
        s.add_all([Membership(tenant_id=ids["A"], user_id=ids["alice"], role="admin"),
                   Membership(tenant_id=ids["A"], user_id=ids["victor"], role="viewer"),
                   Membership(tenant_id=ids["B"], user_id=ids["bob"], role="admin"),
                   RuleSetVersion(tenant_id=ids["A"], version=1, body={"version": 1}),
                   RuleSetVersion(tenant_id=ids["B"], version=1, body={"version": 1})])
    return ids


def login(app, user_id: int, name: str):
    return sign_in(app, user_id, name)


def tenant_routes(app) -> list[tuple[str, str]]:
    """(method, url template) of every console route that takes a tenant id."""
    routes = []
    for rule in app.url_map.iter_rules():
        # a webhook names its tenant too, but a signature admits it, never a console session
        # (tests/security/test_sms_webhook.py)
        if "tenant_id" not in rule.arguments or rule.rule.startswith("/webhooks/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    assert len(routes) >= 8, routes  # the console's tenant pages and actions are all here
    return routes


def url(template: str, tenant_id: int) -> str:
    return re.sub(r"<int:\w+>", "1", template.replace("<int:tenant_id>", str(tenant_id)))


FORM = {"body": "version: 2", "email": "victor@example.com", "role": "admin", "code": "nope"}
# POSTs that change nothing (trying a lead against rules): viewers may use them; a form body is a 400 (JSON only)
READ_ONLY_POSTS = {"/console/tenants/<int:tenant_id>/rules/test"}


def viewer_answer(method: str, template: str) -> int:
    if method == "GET":
        return 200
    return 400 if template in READ_ONLY_POSTS else 403


def test_a_tenant_admin_gets_404_on_every_route_of_another_tenant(app, world):
    alice = login(app, world["alice"], "alice")
    for method, template in tenant_routes(app):
        for other in ("B", "C", "D"):
            resp = alice.open(url(template, world[other]), method=method, data=FORM)
            assert resp.status_code == 404, (method, template, other)
    with session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as s:
        b = s.get(Tenant, world["B"])
        assert b.status == "active" and len(s.scalars(RuleSetVersion.for_tenant(b.id)).all()) == 1


def test_a_viewer_can_read_every_page_but_change_nothing(app, world):
    victor = login(app, world["victor"], "victor")
    for method, template in tenant_routes(app):
        resp = victor.open(url(template, world["A"]), method=method, data=FORM)
        assert resp.status_code == viewer_answer(method, template), (method, template)
    with session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as s:
        assert [v.status for v in s.scalars(RuleSetVersion.for_tenant(world["A"]))] == ["draft"]
        assert s.get(Tenant, world["A"]).status == "active"


def test_an_agency_admin_sees_exactly_the_agency_tenants(app, world):
    agnes = login(app, world["agnes"], "agnes")
    home = agnes.get("/console/").get_data(as_text=True)
    assert "Tenant C" in home and "Tenant D" in home and "Tenant A" not in home and "Tenant B" not in home
    agency = agnes.get("/console/agency").get_data(as_text=True)
    assert "Tenant C" in agency and "Tenant D" in agency and "Tenant A" not in agency
    for method, template in tenant_routes(app):
        if method == "GET":
            assert agnes.get(url(template, world["C"])).status_code == 200, template
        assert agnes.open(url(template, world["A"]), method=method, data=FORM).status_code == 404, template


def test_an_agency_viewer_cannot_change_agency_tenants(app, world):
    vera = login(app, world["vera"], "vera")
    for method, template in tenant_routes(app):
        expected = viewer_answer(method, template)
        assert vera.open(url(template, world["D"]), method=method, data=FORM).status_code == expected, template
    assert vera.post("/console/agency/invites").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in_from_every_console_route(app, world):
    anonymous = app.test_client()
    for method, template in tenant_routes(app):
        resp = anonymous.open(url(template, world["A"]), method=method, data=FORM)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], template
    assert anonymous.get("/console/").status_code == 302
    assert anonymous.get("/console/agency").status_code == 302


def test_an_agency_invite_links_each_tenant_whose_admin_uses_it_until_revoked(app, world):
    agnes = login(app, world["agnes"], "agnes")
    page = agnes.post("/console/agency/invites").get_data(as_text=True)
    code = re.search(r"data-invite-code>([^<]+)<", page).group(1)
    alice = login(app, world["alice"], "alice")
    alice.post(f"/console/tenants/{world['A']}/agency", data={"code": code})
    assert "Tenant A" in agnes.get("/console/").get_data(as_text=True)
    bob = login(app, world["bob"], "bob")
    bob.post(f"/console/tenants/{world['B']}/agency", data={"code": code, "grant": "viewer"})  # the same code again
    assert "Tenant B" in agnes.get("/console/").get_data(as_text=True)
    with session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as s:
        assert s.get(Tenant, world["B"]).agency_grant == "viewer"  # what B's own admin chose, no more
        invite_id = s.scalar(select(AgencyInvite.id))
    assert agnes.post("/console/agency/invites/revoke", data={"invite_id": invite_id}).status_code == 303
    with session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as s:
        s.get(Tenant, world["B"]).agency_id = None  # B's admin unlinked the agency; the revoked code cannot relink it
    bob.post(f"/console/tenants/{world['B']}/agency", data={"code": code})
    assert "Tenant B" not in agnes.get("/console/").get_data(as_text=True)


def test_forms_without_a_csrf_token_are_refused(app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    alice = login(app, world["alice"], "alice")
    assert alice.post(f"/console/tenants/{world['A']}/rules", data={"body": "version: 2"}).status_code == 400


def test_an_invalid_rule_set_is_refused_with_the_path_and_the_text_kept(app, world):
    alice = login(app, world["alice"], "alice")
    text = 'version: 1\nrouting:\n  - name: Bay\n    when: {postcode: ["9a1"]}\n    assign: {review: true}\n'
    resp = alice.post(f"/console/tenants/{world['A']}/rules", data={"body": text})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "routing[0].when.postcode: &#34;9a1&#34; is not a postcode or range" in page
    assert "name: Bay" in page  # the admin's text is kept for fixing


def test_a_valid_rule_set_is_saved_as_a_draft_and_can_be_published(app, env, world, wire_adapters):
    from tests.console_helpers import go_live
    from tests.fakes import FakeCRMAdapter

    wire_adapters(lambda _tenant_id: FakeCRMAdapter())  # the CRM the simulation before publishing reads
    alice = login(app, world["alice"], "alice")
    text = "version: 1\nowners: [{email: alice@example.com}]\nfallback: {owner: alice@example.com}\n"
    assert alice.post(f"/console/tenants/{world['A']}/rules", data={"body": text}).status_code == 303
    assert go_live(alice, env["REDIS_URL"], world["A"], 1).status_code == 303  # the one working draft
    with session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as s:
        versions = {v.version: (v.status, v.body) for v in s.scalars(RuleSetVersion.for_tenant(world["A"]))}
    assert versions == {1: ("published", {"version": 1, "owners": [{"email": "alice@example.com"}],
                                          "fallback": {"owner": "alice@example.com"}})}


def test_the_agency_portfolio_shows_health_and_kpis_and_sorts(app, world):
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as s:
        for i, (outcome, ms) in enumerate((("owner@x.co", 120), ("owner@x.co", 80), ("review", None))):
            inputs = {"written_at": (now + dt.timedelta(milliseconds=ms)).isoformat(),
                      "crm_created_at": now.isoformat()} if ms else {}
            s.add(Decision(tenant_id=world["D"], idempotency_key=f"route:contact:{i}", kind="route",
                           object_type="contact", object_id=str(i), outcome=outcome, reason="r", inputs=inputs))
        s.get(Tenant, world["C"]).status = "reauth_required"
    agnes = login(app, world["agnes"], "agnes")
    page = agnes.get("/console/agency?sort=leads&desc=1").get_data(as_text=True)
    table = page[page.index("data-portfolio"):]
    assert table.index("Tenant D") < table.index("Tenant C")  # 3 leads before 0
    assert "33.3 %" in table and "100 ms" in table  # one of three to review; median of 80 and 120 ms
    assert re.search(r'data-health-state="reauth_required"[^>]*>Re-connect needed<', table)
    assert "/install/salesforce" in table
    ascending = agnes.get("/console/agency?sort=leads").get_data(as_text=True)
    rows = ascending[ascending.index("data-portfolio"):]
    assert rows.index("Tenant C") < rows.index("Tenant D")
