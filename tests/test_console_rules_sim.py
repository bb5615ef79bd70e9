"""Issue 8 console: rules editor (errors at their line, diff, rollback), onboarding, simulation, agency templates."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from redis import Redis
from sqlalchemy import select

from integration.admin.simulate import read_progress
from integration.db import session_scope
from integration.errors import CRMTransient
from integration.models import Agency, AgencyTemplate, ConsoleUser, Membership, RuleSetVersion, Tenant
from integration.records import CRMUser
from integration.rules import load_rules
from tests.console_helpers import go_live, sign_in, simulate
from tests.fakes import FakeCRMAdapter
from tests.workers import BurstWorker

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
RULES = """version: 1
owners: [{email: ann@acme.test}, {email: bob@acme.test}]
pools:
  team: {strategy: round_robin, members: [{owner: ann@acme.test}, {owner: bob@acme.test}]}
routing:
  - name: Germany
    when: {country: [DE]}
    assign: {owner: bob@acme.test}
  - name: Everyone
    when: {has_email: true, has_phone: true, any: true}
    assign: {pool: team}
fallback: {review: true}
"""


@pytest.fixture()
def world(app, env, wire_adapters):
    """Agency X with portals P1 (alice admin, victor viewer), P2, P3; agnes agency admin, vera agency viewer."""
    app.config["WTF_CSRF_ENABLED"] = False
    fake = FakeCRMAdapter()
    fake.users = [CRMUser("u1", "Ann@acme.test", "Ann Lee"), CRMUser("u2", "bob@acme.test", "Bob Ray"),
                  CRMUser("u3", "cid@acme.test", "Cid Old", active=False)]
    wire_adapters(lambda tenant_id: fake)
    ids = {"fake": fake}
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="X")
        s.add(agency)
        s.flush()
        for key, platform in (("P1", "hubspot"), ("P2", "pipedrive"), ("P3", "salesforce")):
            tenant = Tenant(platform=platform, external_id=key, name=f"Portal {key}", agency_id=agency.id,
                            agency_grant="admin")
            s.add(tenant)
            s.flush()
            ids[key] = tenant.id
        for name, agency_role in (("alice", None), ("victor", None), ("agnes", "admin"), ("vera", "viewer"),
                                  ("olga", None)):
            user = ConsoleUser(platform="hubspot", external_user_id=name, email=f"{name}@example.com", name=name,
                               agency_id=agency.id if agency_role else None, agency_role=agency_role)
            s.add(user)
            s.flush()
            ids[name] = user.id
        s.add_all([Membership(tenant_id=ids["P1"], user_id=ids["alice"], role="admin"),
                   Membership(tenant_id=ids["P1"], user_id=ids["victor"], role="viewer")])
    return ids


def login(app, world, name: str):
    return sign_in(app, world[name], name)


def versions(env, tenant_id: int) -> dict[int, str]:
    with session_scope(env["DATABASE_URL"]) as s:
        return {v.version: v.status for v in s.scalars(RuleSetVersion.for_tenant(tenant_id))}


def body_of(env, tenant_id: int, version: int) -> dict:
    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.version == version)).body


def run_jobs(env) -> None:
    BurstWorker(["maintenance"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def seed_leads(fake: FakeCRMAdapter) -> None:
    fake.put("contact", "c0", updated_at=T0 - dt.timedelta(days=30), email="old@x.test", first_name="Old")
    fake.put("contact", "c1", updated_at=T0, email="hans@x.de", first_name="Hans", country="DE", owner_id="u1")
    for i, name in ((2, "Pat"), (3, "Kim"), (4, "Lou")):
        fake.put("contact", f"c{i}", updated_at=T0 + dt.timedelta(minutes=i), email=f"{name.lower()}@x.test",
                 first_name=name, last_name="Smith", country="US")
    fake.put("contact", "c5", updated_at=T0 + dt.timedelta(minutes=5), first_name="test", last_name="test")


# Rules editor ---------------------------------------------------------------------------------------------

def test_an_invalid_rule_set_names_the_offending_line(app, world):
    alice = login(app, world, "alice")
    text = RULES.replace("assign: {owner: bob@acme.test}", "assign: {owner: zed@acme.test}")
    resp = alice.post(f"/console/tenants/{world['P1']}/rules", data={"body": text})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(r"line 8: routing\[0\]\.assign(\.owner)?: [^<]*zed@acme.test", page), page
    assert '<div id="L8" class="bad">' in page and "name: Germany" in page  # the listing marks it; text kept
    syntax = alice.post(f"/console/tenants/{world['P1']}/rules", data={"body": "version: 1\nowners: [\n  x: 1\n"})
    assert syntax.status_code == 400 and re.search(r"line \d: not valid YAML", syntax.get_data(as_text=True))


def test_a_draft_is_diffed_against_the_live_version(app, env, world):
    alice = login(app, world, "alice")
    tenant = world["P1"]
    assert alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES}).status_code == 303
    assert go_live(alice, env["REDIS_URL"], tenant, 1).status_code == 303
    edited = RULES.replace("country: [DE]", "country: [DE, AT]")
    assert alice.post(f"/console/tenants/{tenant}/rules", data={"body": edited}).status_code == 303
    page = alice.get(f"/console/tenants/{tenant}/rules/diff?version=2").get_data(as_text=True)
    assert "Version 2 (draft) against live version 1" in page
    summary = re.search(r'<ul class="change-list" data-summary>(.*?)</ul>', page, re.S)
    assert summary and "country DE → DE, AT" in summary.group(1), page  # the change in a sentence, then lines
    assert re.search(r'<span class="del">-\s+- DE</span>', page) is None  # unchanged lines are context
    assert re.search(r'<span class="add">\+\s+- AT</span>', page), page
    assert "Identical" in alice.get(f"/console/tenants/{tenant}/rules/diff?version=1").get_data(as_text=True)
    # the editor opens a version's text
    assert "AT" in alice.get(f"/console/tenants/{tenant}/rules?edit=2").get_data(as_text=True)


def test_rollback_publishes_an_old_version_as_a_new_one(app, env, world):
    alice = login(app, world, "alice")
    tenant = world["P1"]
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES})
    assert go_live(alice, env["REDIS_URL"], tenant, 1).status_code == 303
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES.replace("[DE]", "[AT]")})
    assert go_live(alice, env["REDIS_URL"], tenant, 2).status_code == 303
    assert versions(env, tenant) == {1: "archived", 2: "published"}
    assert alice.post(f"/console/tenants/{tenant}/rules/1/rollback").status_code == 303
    assert versions(env, tenant) == {1: "archived", 2: "archived", 3: "published"}
    assert body_of(env, tenant, 3) == body_of(env, tenant, 1)


# Onboarding -------------------------------------------------------------------------------------------------

def test_onboarding_lists_crm_users_and_makes_a_starter_draft(app, env, world):
    alice = login(app, world, "alice")
    tenant = world["P1"]
    page = alice.get(f"/console/tenants/{tenant}/onboarding").get_data(as_text=True)
    assert 'data-user="Ann@acme.test"' in page and 'data-user="cid@acme.test"' in page
    assert alice.post(f"/console/tenants/{tenant}/onboarding/starter").status_code == 303
    assert versions(env, tenant) == {1: "draft"}
    body = body_of(env, tenant, 1)
    assert body["pools"]["team"] == {"strategy": "round_robin",
                                     "members": [{"owner": "ann@acme.test"}, {"owner": "bob@acme.test"}]}
    assert body["fallback"] == {"review": True}
    load_rules(body)  # valid as saved
    page = alice.get(f"/console/tenants/{tenant}/onboarding").get_data(as_text=True)
    assert "Simulate version 1" in page and "data-go-live-blocked" in page  # going live waits for a simulation
    assert 'data-step="starter" data-state="done"' in page and 'data-step="simulate" data-state="done"' not in page
    seed_leads(world["fake"])
    simulate(alice, env["REDIS_URL"], tenant, 1)
    page = alice.get(f"/console/tenants/{tenant}/onboarding").get_data(as_text=True)
    assert re.search(r"data-simulation-result>Version 1 over your last 6 leads: <strong>6</strong> would get "
                     r"another owner, <strong>1</strong> would go to the review queue", page), page
    onboarding = f"/console/tenants/{tenant}/onboarding"
    confirm = re.search(r'data-go-live href="([^"]+)">Go live with version 1', page).group(1).replace("&amp;", "&")
    assert confirm.startswith(f"/console/tenants/{tenant}/rules/1/publish?next=")
    assert 'name="next" value="' + onboarding + '"' in alice.get(confirm).get_data(as_text=True)
    resp = alice.post(f"/console/tenants/{tenant}/rules/1/publish", data={"next": onboarding, "confirm": "yes"})
    assert resp.headers["Location"].endswith(f"/console/tenants/{tenant}/onboarding")
    assert versions(env, tenant) == {1: "published"}
    page = alice.get(onboarding).get_data(as_text=True)
    assert 'data-step="live" data-state="done"' in page and "Version 1 is live" in page


def test_onboarding_says_so_when_the_crm_is_unreachable(app, world, wire_adapters):
    def unreachable(tenant_id):
        raise CRMTransient("connection reset")

    wire_adapters(unreachable)
    resp = login(app, world, "victor").get(f"/console/tenants/{world['P1']}/onboarding")
    assert resp.status_code == 200 and "could not reach hubspot just now" in resp.get_data(as_text=True)


# Simulation ---------------------------------------------------------------------------------------------

def test_a_simulation_routes_the_last_leads_in_memory_and_writes_nothing(app, env, world):
    fake = world["fake"]
    seed_leads(fake)
    alice = login(app, world, "alice")
    tenant = world["P1"]
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES})
    resp = alice.post(f"/console/tenants/{tenant}/simulate", data={"version": "1", "limit": "5"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/simulate?version=1")
    waiting = alice.get(f"/console/tenants/{tenant}/simulate?version=1").get_data(as_text=True)
    assert 'http-equiv="refresh"' in waiting and 'role="progressbar"' in waiting
    run_jobs(env)
    result = read_progress(tenant, 1)["result"]
    assert [r["id"] for r in result["rows"]] == ["c1", "c2", "c3", "c4", "c5"]  # the newest 5, c0 left out
    assert dict(result["by_rule"]) == {"Everyone": 3, "Germany": 1, "(fallback)": 1}
    assert dict(result["by_owner"]) == {"ann@acme.test": 2, "bob@acme.test": 2, "review": 1}
    assert (result["leads"], result["changed"], result["review"]) == (5, 5, 1)
    c1 = result["rows"][0]
    assert (c1["current"], c1["simulated"], c1["rule"]) == ("ann@acme.test", "bob@acme.test", "Germany")
    page = alice.get(f"/console/tenants/{tenant}/simulate?version=1").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    assert '<tr data-rule="Germany"><td>Germany</td><td class="num">1</td>' in page
    assert '<tr data-lead="c1" data-change="rule">' in page and "<strong>Hans</strong>" in page  # leads by name
    assert "Ann Lee<br><small class=\"muted\">ann@acme.test</small>" in page  # owners by name, email second
    go = re.search(r'data-go-live href="([^"]+)">Go live with version 1', page)
    assert go and go.group(1) == f"/console/tenants/{tenant}/rules/1/publish"  # to the confirmation page
    writes = ("set_owner", "set_fields", "create_record", "create_task", "merge", "update_task")
    assert not any(fake.calls[name] for name in writes)
    assert versions(env, tenant) == {1: "draft"}


# Agency templates -----------------------------------------------------------------------------------------

def test_an_agency_admin_rolls_a_template_out_to_two_portals(app, env, world):
    seed_leads(world["fake"])
    alice, agnes = login(app, world, "alice"), login(app, world, "agnes")
    alice.post(f"/console/tenants/{world['P1']}/rules", data={"body": RULES})
    assert go_live(alice, env["REDIS_URL"], world["P1"], 1).status_code == 303
    resp = agnes.post("/console/agency/templates", data={"name": "Standard", "tenant_id": world["P1"]})
    assert resp.status_code == 303
    with session_scope(env["DATABASE_URL"]) as s:
        template = s.scalar(select(AgencyTemplate))
    assert template.name == "Standard" and template.body == body_of(env, world["P1"], 1)
    resp = agnes.post("/console/agency/templates/rollout",
                      data={"template_id": template.id, "tenant_id": [world["P2"], world["P3"]], "limit": "10"})
    assert resp.status_code == 303
    assert versions(env, world["P2"]) == {1: "draft"} and versions(env, world["P3"]) == {1: "draft"}
    run_jobs(env)
    page = agnes.get(f"/console/agency/templates/view?template_id={template.id}").get_data(as_text=True)
    assert page.count("6 leads · 6 change owner · 1 to review") == 2  # one summary per portal
    assert agnes.post("/console/agency/templates/publish",
                      data={"template_id": template.id, "tenant_id": world["P2"]}).status_code == 303
    assert versions(env, world["P2"]) == {1: "published"} and versions(env, world["P3"]) == {1: "draft"}
    assert "Standard" in login(app, world, "vera").get("/console/agency/templates").get_data(as_text=True)


# Who may change what --------------------------------------------------------------------------------------

def test_viewers_cannot_reach_the_editor_or_template_changes(app, env, world):
    alice, victor = login(app, world, "alice"), login(app, world, "victor")
    tenant = world["P1"]
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES})
    for path, data in ((f"/console/tenants/{tenant}/rules", {"body": RULES}),
                       (f"/console/tenants/{tenant}/rules/1/publish", {}),
                       (f"/console/tenants/{tenant}/rules/1/rollback", {}),
                       (f"/console/tenants/{tenant}/simulate", {"version": "1"}),
                       (f"/console/tenants/{tenant}/onboarding/starter", {})):
        assert victor.post(path, data=data).status_code == 403, path
    page = victor.get(f"/console/tenants/{tenant}/rules").get_data(as_text=True)
    assert "Save draft" not in page and "Publish" not in page
    with session_scope(env["DATABASE_URL"]) as s:
        template = AgencyTemplate(agency_id=s.get(Tenant, tenant).agency_id, name="T", body={"version": 1})
        s.add(template)
        s.flush()
        template_id = template.id
    vera = login(app, world, "vera")
    assert vera.get(f"/console/agency/templates/view?template_id={template_id}").status_code == 200
    for path in ("/console/agency/templates", "/console/agency/templates/rollout", "/console/agency/templates/publish"):
        form = {"template_id": template_id, "tenant_id": world["P2"], "name": "Z"}
        assert vera.post(path, data=form).status_code == 403, path
    olga = login(app, world, "olga")  # in no agency
    assert olga.get("/console/agency/templates").status_code == 403
    assert versions(env, world["P2"]) == {} and versions(env, tenant) == {1: "draft"}
