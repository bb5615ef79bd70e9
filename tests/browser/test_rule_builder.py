"""The rule builder in a real browser: an admin builds a whole rule set without typing YAML, on each CRM."""
from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or, under CI, fails) these tests
    expect = None

from integration.db import session_scope
from integration.models import ConsoleUser, Membership, RuleSetVersion, Tenant
from integration.rules import validate_rules
from tests.browser.conftest import shot, sign_in_as
from tests.crm_helpers import ACCOUNT_PARAM, new_account

ALICE, BOB = "alice.owner@leadrelay.test", "bob.owner@leadrelay.test"
USERS = [{"email": ALICE, "name": "Alice Owner", "timezone": "America/Los_Angeles"},
         {"email": BOB, "name": "Bob Owner", "timezone": "America/Los_Angeles"}]


def install(page, server, platform: str, name: str) -> int:
    """Install from the marketplace link; the sandbox approves and the browser follows to onboarding."""
    account = new_account(server, platform, name=name, users=USERS)
    authorize = page.request.get(f"/install/{platform}", max_redirects=0)
    assert authorize.status == 302, authorize.text()
    page.goto(f"{authorize.headers['location']}&{ACCOUNT_PARAM[platform]}={account['account_id']}")
    page.wait_for_url("**/onboarding")
    return int(page.url.rsplit("/", 2)[-2])


def at(page, path: str, control: str = "input"):
    """The control of the builder field that edits `path` of the document."""
    return page.locator(f'[data-path="{path}"] {control}').first


def click_in(page, scope: str, label: str) -> None:
    page.locator(scope).get_by_role("button", name=label, exact=True).last.click()


def versions(env, tenant_id: int) -> list[RuleSetVersion]:
    with session_scope(env["DATABASE_URL"]) as s:
        rows = s.scalars(RuleSetVersion.for_tenant(tenant_id).order_by(RuleSetVersion.version)).all()
        s.expunge_all()
        return rows


def saved(page, env, tenant_id: int) -> dict:
    """Wait for the autosave of the current state, then the one draft stored."""
    expect(page.locator("#save-status")).to_have_text(re.compile(r"Draft version \d+ saved \d\d:\d\d"),
                                                      timeout=15_000)
    rows = versions(env, tenant_id)
    assert [r.status for r in rows] == ["draft"], [(r.version, r.status) for r in rows]
    return rows[0].body


def add_owner(page, i: int, email: str, name: str, hours: tuple[str, str, str, str]) -> None:
    page.locator("#sec-owners").get_by_role("button", name="Add an owner").click()
    at(page, f"owners[{i}].email").fill(email)
    at(page, f"owners[{i}].name").fill(name)
    at(page, f"owners[{i}].timezone").fill("America/Los_Angeles")
    at(page, f"owners[{i}].hours-mode", "select").select_option("simple")
    first, last, start, end = hours
    at(page, f"owners[{i}].hours-from", "select").select_option(first)
    at(page, f"owners[{i}].hours-to", "select").select_option(last)
    at(page, f"owners[{i}].hours-start").fill(start)
    at(page, f"owners[{i}].hours-end").fill(end)
    at(page, f"owners[{i}].country", "select").select_option("US")


def add_condition(page, rule: str, key: str) -> None:
    scope = page.locator(f'[data-path="{rule}.when"]')
    scope.get_by_label("Add a condition").select_option(key)
    scope.get_by_role("button", name="Add", exact=True).click()


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_an_admin_builds_a_complete_rule_set_without_yaml(page, live, crm_sandbox, crm_env, platform):
    tenant_id = install(page, crm_sandbox, platform, f"Builder {platform}")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"/console/tenants/{tenant_id}/rules")
    page.click("[data-builder-link]")
    expect(page.locator("h1")).to_have_text("Rule builder")

    # two owners with working hours, one of them out of office over the holidays
    add_owner(page, 0, ALICE, "Alice Owner", ("Mon", "Fri", "09:00", "17:00"))
    add_owner(page, 1, BOB, "Bob Owner", ("Mon", "Thu", "08:00", "16:00"))
    page.locator('[data-path="owners[1].out_of_office"]').get_by_role("button", name="Add days off").click()
    at(page, "owners[1].out_of_office[0].from").fill("2026-12-24")
    at(page, "owners[1].out_of_office[0].to").fill("2026-12-31")
    at(page, "owners[1].manager").check()

    # a weighted pool: Alice gets two of every three leads
    page.locator("#sec-pools").get_by_role("button", name="Add a pool").click()
    name = at(page, "pools.pool.name")
    name.fill("west")
    name.press("Tab")  # a rename applies when the field is left
    at(page, "pools.west.strategy", "select").select_option("weighted")
    at(page, "pools.west.respect_hours").check()
    for j, (email, weight) in enumerate(((ALICE, "2"), (BOB, "1"))):
        page.locator('[data-path="pools.west"]').get_by_role("button", name="Add a member").click()
        at(page, f"pools.west.members[{j}].owner", "select").select_option(email)
        at(page, f"pools.west.members[{j}].weight").fill(weight)

    # a changed address is followed by the pool that names it
    for email in ("bobby.owner@leadrelay.test", BOB):
        at(page, "owners[1].email").fill(email)
        at(page, "owners[1].email").press("Tab")
        expect(at(page, "pools.west.members[1].owner", "select")).to_have_value(email)

    # an account-owner rule, then a territory by postcode ranges, in that order
    routing = page.locator("#sec-routing")
    routing.get_by_role("button", name="Add a routing rule").click()
    at(page, "routing[0].name").fill("Existing customers")
    add_condition(page, "routing[0]", "account_owner")
    at(page, "routing[0].assign.kind", "select").select_option("account_owner")
    routing.get_by_role("button", name="Add a routing rule").click()
    at(page, "routing[1].name").fill("Bay Area")
    add_condition(page, "routing[1]", "postcode")
    at(page, "routing[1].assign.kind", "select").select_option("pool")
    at(page, "routing[1].assign.pool", "select").select_option("west")

    # a range written high-to-low is refused next to its field, and the message goes once it is fixed
    postcode = at(page, "routing[1].when.postcode")
    postcode.fill("951-940")
    error = page.locator('[data-path="routing[1].when.postcode"] > .field-error')
    expect(error).to_contain_text("is not a postcode or range", timeout=10_000)
    expect(page.locator("#issue-summary")).to_be_visible()
    expect(page.locator("#save-status")).to_contain_text("Not saved: 1 problem")
    shot(page, f"builder-{platform}-error")
    postcode.fill("940-951, 954")
    expect(error).to_be_empty(timeout=10_000)
    expect(page.locator("#issue-summary")).to_be_hidden()

    # SLA tiers: hot within 5 minutes around the clock, reassigned after 15; warm within 4 working hours
    at(page, "sla.hot.enabled").check()
    at(page, "sla.hot.first_touch").fill("5m")
    page.locator('[data-path="sla.hot"]').get_by_role("button", name="Add an escalation step").click()
    at(page, "sla.hot.escalate[0].after").fill("15m")
    at(page, "sla.hot.escalate[0].action", "select").select_option("reassign")
    at(page, "sla.warm.enabled").check()
    at(page, "fallback.kind", "select").select_option("pool")
    at(page, "fallback.pool", "select").select_option("west")

    body = saved(page, crm_env, tenant_id)
    rules = validate_rules(body)  # what was saved is what the pipeline loads
    assert [(o.email, o.hours.text) for o in rules.owners] == [(ALICE, "Mon-Fri 09:00-17:00"),
                                                               (BOB, "Mon-Thu 08:00-16:00")]
    assert body["owners"][1]["out_of_office"] == ["2026-12-24..2026-12-31"] and body["owners"][1]["manager"] is True
    assert body["pools"] == {"west": {"strategy": "weighted", "members": [{"owner": ALICE, "weight": 2},
                                                                          {"owner": BOB, "weight": 1}],
                                      "respect_hours": True}}
    assert body["routing"] == [
        {"name": "Existing customers", "when": {"account_owner": True}, "assign": {"account_owner": True}},
        {"name": "Bay Area", "when": {"postcode": ["940-951", "954"]}, "assign": {"pool": "west"}}]
    assert body["sla"] == {"hot": {"first_touch": "5m", "business_hours": False,
                                   "escalate": [{"after": "15m", "action": "reassign"}]},
                           "warm": {"first_touch": "4h", "business_hours": True}}
    assert body["fallback"] == {"pool": "west"}
    shot(page, f"builder-{platform}-1440")

    # the same draft as YAML, with line numbers; an edit there shows in the visual view and is saved too
    page.click("#tab-yaml")
    text = page.locator("#yaml-text")
    expect(text).to_have_value(re.compile(r"postcode:\n\s+- 940-951\n\s+- '954'"))
    lines = text.input_value().count("\n") + 1
    assert page.locator("#panel-yaml .gutter").inner_text().split("\n")[-1].strip() in (str(lines), str(lines - 1))
    text.fill(text.input_value().replace("name: Bay Area", "name: Bay Area and Valley"))
    expect(page.locator("#save-status")).to_contain_text("saved", timeout=10_000)
    shot(page, f"builder-{platform}-yaml")
    page.click("#tab-visual")
    expect(page.locator('[data-rule="Bay Area and Valley"]')).to_be_visible()
    assert saved(page, crm_env, tenant_id)["routing"][1]["name"] == "Bay Area and Valley"

    # the test panel: the answer, or (until its endpoint is on this server) a clear message instead of nothing
    page.fill("#t-email", "grace@bigco.example")
    page.fill("#t-postcode", "94105")
    page.click("#test-run")
    answer = page.locator("#test-result")
    expect(answer).not_to_be_empty()
    if page.request.post(f"/console/tenants/{tenant_id}/rules/test", data={}).status == 404:
        expect(answer).to_contain_text("not available on this server yet")
    else:
        expect(answer.locator(".test-path li.matched")).to_contain_text("Bay Area and Valley")

    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"builder-{platform}-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert len(versions(crm_env, tenant_id)) == 1  # all of it is one draft


def test_a_yaml_syntax_error_is_explained_at_its_line_and_blocks_the_visual_view(page, live, crm_sandbox, crm_env):
    tenant_id = install(page, crm_sandbox, "hubspot", "Builder YAML")
    page.goto(f"/console/tenants/{tenant_id}/rules/builder")
    page.click("#tab-yaml")
    page.locator("#yaml-text").fill("version: 1\nowners\n  - email: alice.owner@leadrelay.test\n")
    issue = page.locator("#yaml-issue-list li")
    expect(issue).to_contain_text("Line 2: a colon is missing after 'owners'")
    issue.get_by_role("button").click()
    selected = page.evaluate("(() => { const t = document.getElementById('yaml-text');"
                             " return t.value.slice(t.selectionStart, t.selectionEnd); })()")
    assert selected == "owners"  # the line the message names is selected in the text
    page.click("#tab-visual")
    expect(page.locator("#yaml-issues")).to_contain_text("Fix the syntax error first")
    assert page.locator("#panel-yaml").is_visible()
    assert versions(crm_env, tenant_id) == []  # nothing invalid was saved


def test_a_viewer_sees_the_rules_read_only_in_both_views(page, live, crm_env):
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="5151", name="Viewer Builder Co")
        s.add(tenant)
        s.flush()
        viewer = ConsoleUser(platform="hubspot", external_user_id="vic@viewer.example", email="vic@viewer.example",
                             name="Vic Viewer")
        s.add(viewer)
        s.flush()
        s.add_all([Membership(tenant_id=tenant.id, user_id=viewer.id, role="viewer"),
                   RuleSetVersion(tenant_id=tenant.id, version=1, status="published", created_by="seed",
                                  body={"version": 1, "owners": [{"email": ALICE}],
                                        "routing": [{"name": "Bay Area", "when": {"postcode": ["940-951"]},
                                                     "assign": {"owner": ALICE}}]})])
        tenant_id = tenant.id
    sign_in_as(page, live, viewer)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(f"/console/tenants/{tenant_id}/rules/builder")
    expect(page.locator("#save-status")).to_contain_text("Read-only")
    assert at(page, "routing[0].when.postcode").is_disabled() and at(page, "owners[0].email").is_disabled()
    assert page.get_by_role("button", name="Add a routing rule").is_disabled()
    page.click("#tab-yaml")
    expect(page.locator("#yaml-text")).to_have_value(re.compile(r"- 940-951"))
    assert page.locator("#yaml-text").get_attribute("readonly") is not None
    page.click("#tab-visual")
    expect(page.locator('[data-rule="Bay Area"]')).to_be_visible()
    assert posts == []  # nothing a viewer does here asks to change anything
