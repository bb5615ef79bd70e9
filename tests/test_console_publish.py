"""Publishing with confirmation: the diff and the simulation's result first; no publish without both."""
from __future__ import annotations

import re

from integration.admin.simulate import _save
from tests import test_console_rules_sim as sim
from tests.console_helpers import simulate
from tests.test_console_rules_sim import RULES, login, run_jobs, seed_leads, versions

world = sim.world  # the same fixture: an agency's portals, their admins and viewers, a fake CRM

AUSTRIA = "  - name: Austria\n    when: {country: [AT]}\n    assign: {owner: ann@acme.test}\n"
EDITED = (RULES.replace("  - name: Everyone", AUSTRIA + "  - name: Everyone")
          .replace("members: [{owner: ann@acme.test}, {owner: bob@acme.test}]",
                   "members: [{owner: ann@acme.test}, {owner: bob@acme.test, weight: 2}]")
          .replace("strategy: round_robin", "strategy: weighted"))


def publish_page(client, tenant: int, version: int) -> str:
    resp = client.get(f"/console/tenants/{tenant}/rules/{version}/publish")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_publishing_asks_for_a_finished_simulation_and_a_confirmation(app, env, world):
    alice, tenant = login(app, world, "alice"), world["P1"]
    seed_leads(world["fake"])
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES})
    # a button that posts straight here (an old page, a script) lands on the confirmation page instead
    resp = alice.post(f"/console/tenants/{tenant}/rules/1/publish")
    assert resp.status_code == 303 and resp.headers["Location"] == f"/console/tenants/{tenant}/rules/1/publish"
    assert versions(env, tenant) == {1: "draft"}
    page = publish_page(alice, tenant, 1)
    assert "Check what version 1 changes, then confirm to go live." in page  # the flash says why
    assert "Version 1 has not been simulated yet" in page and "data-simulate-now>Simulate now<" in page
    assert f'name="next" value="/console/tenants/{tenant}/rules/1/publish"' in page  # Simulate now comes back here
    assert re.search(r'data-confirm-publish disabled aria-describedby="publish-blocked">Go live with version 1<', page)
    assert "Nothing is live yet: 2 routing rules, 1 pool and 2 owners start routing new leads." in page
    # confirming without a simulation is refused too
    resp = alice.post(f"/console/tenants/{tenant}/rules/1/publish", data={"confirm": "yes"})
    assert resp.status_code == 303 and versions(env, tenant) == {1: "draft"}
    assert "it has not been simulated. Simulate it first" in alice.get(resp.headers["Location"]).get_data(as_text=True)
    _save(tenant, 1, state="running", done=2, total=5)  # a simulation under way is not a result yet
    page = publish_page(alice, tenant, 1)
    assert 'aria-label="Simulation of version 1" aria-valuenow="40"' in page and "data-blocked" in page
    assert alice.post(f"/console/tenants/{tenant}/rules/1/publish", data={"confirm": "yes"}).status_code == 303
    assert versions(env, tenant) == {1: "draft"}

    here = f"/console/tenants/{tenant}/rules/1/publish"
    resp = alice.post(f"/console/tenants/{tenant}/simulate", data={"version": "1", "limit": "50", "next": here})
    assert resp.status_code == 303 and resp.headers["Location"] == here
    run_jobs(env)
    page = publish_page(alice, tenant, 1)
    assert "data-blocked" not in page and re.search(r'data-confirm-publish>Go live with version 1<', page)
    assert re.search(r"data-simulation-summary>Of your <strong>6</strong> most recent leads, <strong>6</strong> "
                     r"would get another owner \(1 because of a rule, 5 that have no owner now\)", page), page
    hans = re.search(r'<tr data-example="c1">(.*?)</tr>', page, re.S).group(1)  # a rule change, by name
    assert "<strong>Hans</strong>" in hans and "Ann Lee" in hans and "Bob Ray" in hans and "Germany" in hans
    resp = alice.post(f"/console/tenants/{tenant}/rules/1/publish", data={"confirm": "yes"})
    assert resp.status_code == 303 and versions(env, tenant) == {1: "published"}
    assert "Version 1 is live." in alice.get(resp.headers["Location"]).get_data(as_text=True)
    assert "is already live" in publish_page(alice, tenant, 1)


def test_the_confirmation_says_what_changes_against_the_live_version(app, env, world):
    alice, tenant = login(app, world, "alice"), world["P1"]
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES})
    simulate(alice, env["REDIS_URL"], tenant, 1)
    alice.post(f"/console/tenants/{tenant}/rules/1/publish", data={"confirm": "yes"})
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": EDITED})
    page = publish_page(alice, tenant, 2)
    summary = re.search(r"<ul class=\"change-list\" data-summary>(.*?)</ul>", page, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", summary) == [
        "1 rule added: Austria",
        "Pool team: round robin → weighted",
        "Pool team: weight of Bob Ray (bob@acme.test) 1 → 2"]
    assert re.search(r'<span class="add">\+- name: Austria</span>\n', page)  # the line diff, coloured by class
    # the buttons elsewhere lead here: the simulation page and the diff page link to this page
    diff = alice.get(f"/console/tenants/{tenant}/rules/diff?version=2").get_data(as_text=True)
    assert f'data-go-live href="/console/tenants/{tenant}/rules/2/publish"' in diff


def test_viewers_see_the_confirmation_but_cannot_publish(app, env, world):
    alice, victor, tenant = login(app, world, "alice"), login(app, world, "victor"), world["P1"]
    alice.post(f"/console/tenants/{tenant}/rules", data={"body": RULES})
    page = publish_page(victor, tenant, 1)
    assert "Only an admin of this account can publish rules." in page and "data-confirm-publish" not in page
    assert victor.post(f"/console/tenants/{tenant}/rules/1/publish", data={"confirm": "yes"}).status_code == 403
    assert "There is no version 9." in publish_page(victor, tenant, 9)
