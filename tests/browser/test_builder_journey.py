"""The whole admin journey of issue #17 on each CRM: build a rule set in the builder (no YAML), test a lead in the
panel, simulate, publish after the confirmation page, then a new lead arriving through the pipeline is routed by
those rules and the audit log shows the person's name, the rules checked, the owner passed over and a CRM link."""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or, under CI, fails) these tests
    expect = None

from tests.browser.conftest import shot
from tests.browser.test_rule_builder import ALICE, BOB, USERS, add_condition, add_owner, at, saved
from tests.crm_helpers import ACCOUNT_PARAM, new_account
from tests.e2e.test_pipeline_flow import LEAD, LEAD_OBJECT, deliver, record_id
from tests.e2e.test_pipeline_flow import simulate as in_crm
from tests.workers import BurstWorker

# the record pages' paths (the hosts are the sandbox's here: app.hubspot.com, the org's instance, the company domain)
CRM_URL = {"hubspot": r"/contacts/\d+/record/0-1/\d+$", "salesforce": r"/lightning/r/Lead/\w+/view$",
           "pipedrive": r"/person/\d+$"}
CRM_LABEL = {"hubspot": "Open in HubSpot", "salesforce": "Open in Salesforce", "pipedrive": "Open in Pipedrive"}


def work(env, queue: str) -> None:
    from redis import Redis

    BurstWorker([queue], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def install(page, server, platform: str, name: str) -> tuple[int, dict]:
    """Install from the marketplace link; the sandbox approves and the browser lands on onboarding."""
    account = new_account(server, platform, name=name, users=USERS)
    authorize = page.request.get(f"/install/{platform}", max_redirects=0)
    assert authorize.status == 302, authorize.text()
    page.goto(f"{authorize.headers['location']}&{ACCOUNT_PARAM[platform]}={account['account_id']}")
    page.wait_for_url("**/onboarding")
    return int(page.url.rsplit("/", 2)[-2]), account


def build(page, today: dt.date) -> None:
    """Owners (Bob away this week), a weighted pool, an account-owner rule, a postcode territory, a country rule,
    SLA tiers and a fallback: all through the builder's fields."""
    add_owner(page, 0, ALICE, "Alice Owner", ("Mon", "Fri", "09:00", "17:00"))
    add_owner(page, 1, BOB, "Bob Owner", ("Mon", "Fri", "09:00", "17:00"))
    page.locator('[data-path="owners[1].out_of_office"]').get_by_role("button", name="Add days off").click()
    at(page, "owners[1].out_of_office[0].from").fill((today - dt.timedelta(days=1)).isoformat())
    at(page, "owners[1].out_of_office[0].to").fill((today + dt.timedelta(days=7)).isoformat())

    page.locator("#sec-pools").get_by_role("button", name="Add a pool").click()
    name = at(page, "pools.pool.name")
    name.fill("west")
    name.press("Tab")
    at(page, "pools.west.strategy", "select").select_option("weighted")
    for j, (email, weight) in enumerate(((BOB, "2"), (ALICE, "1"))):  # Bob would come first, were he in
        page.locator('[data-path="pools.west"]').get_by_role("button", name="Add a member").click()
        at(page, f"pools.west.members[{j}].owner", "select").select_option(email)
        at(page, f"pools.west.members[{j}].weight").fill(weight)

    routing = page.locator("#sec-routing")
    for i, (rule, key, value) in enumerate((("Existing customers", "account_owner", None),
                                            ("Bay Area", "postcode", "940-951, 954"),
                                            ("Germany", "country", "DE"))):
        routing.get_by_role("button", name="Add a routing rule").click()
        at(page, f"routing[{i}].name").fill(rule)
        add_condition(page, f"routing[{i}]", key)
        if value:
            at(page, f"routing[{i}].when.{key}").fill(value)
        if key == "account_owner":
            at(page, f"routing[{i}].assign.kind", "select").select_option("account_owner")
        else:
            at(page, f"routing[{i}].assign.kind", "select").select_option("pool")
            at(page, f"routing[{i}].assign.pool", "select").select_option("west")

    for tier in ("hot", "warm", "nurture"):
        at(page, f"sla.{tier}.enabled").check()
    page.locator('[data-path="sla.hot"]').get_by_role("button", name="Add an escalation step").click()
    at(page, "sla.hot.escalate[0].after").fill("15m")
    at(page, "sla.hot.escalate[0].action", "select").select_option("notify_manager")
    at(page, "fallback.kind", "select").select_option("review")


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_built_tested_simulated_confirmed_then_a_new_lead_is_routed_and_audited_by_name(page, live, crm_sandbox,
                                                                                      crm_env, platform):
    tenant_id, account = install(page, crm_sandbox, platform, f"Journey {platform}")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"/console/tenants/{tenant_id}/rules/builder")
    build(page, dt.datetime.now(zoneinfo.ZoneInfo("America/Los_Angeles")).date())
    body = saved(page, crm_env, tenant_id)
    assert [r["name"] for r in body["routing"]] == ["Existing customers", "Bay Area", "Germany"]

    # the test panel: every rule in order with why, the owner passed over and why, the SLA due time
    page.fill("#t-firstname", "Ada")
    page.fill("#t-lastname", "Tester")
    page.fill("#t-email", "ada@example.de")
    page.fill("#t-country", "Germany")
    page.click("#test-run")
    answer = page.locator("#test-result")
    expect(answer.locator(".test-path li.matched")).to_contain_text("Germany", timeout=15_000)
    assert answer.locator(".test-path li.skipped").count() == 2  # the account-owner rule and the territory
    expect(answer.locator(".test-path")).to_contain_text("postcode")
    expect(answer.locator("ul.skipped")).to_contain_text("out of office")
    expect(answer).to_contain_text("Alice Owner")
    expect(answer.locator(".sla-due")).to_contain_text("First touch due")
    page.locator("#test-result").scroll_into_view_if_needed()
    shot(page, f"journey-{platform}-test-panel", docs="console-rule-builder" if platform == "hubspot" else None)

    # simulate the draft, then go live from the confirmation page (the diff and the simulation first)
    page.goto(f"/console/tenants/{tenant_id}/rules/{_draft(crm_env, tenant_id)}/publish")
    expect(page.locator("[data-confirm-publish]")).to_be_disabled()
    page.click("[data-simulate-now]")
    work(crm_env, "maintenance")
    page.goto(f"/console/tenants/{tenant_id}/rules/{_draft(crm_env, tenant_id)}/publish")
    expect(page.locator("[data-publish-changes]")).to_contain_text("3 routing rules")
    shot(page, f"journey-{platform}-confirm")
    page.click("[data-confirm-publish]")
    expect(page.locator(".flash")).to_contain_text("is live")

    # a new lead in the CRM, delivered as its webhook would be: routed by the published rules
    object_type, properties = LEAD[platform]
    created = in_crm(crm_sandbox, account, {"action": "create", "object_type": object_type, "properties": properties})
    deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], record_id(platform, created))
    page.goto(f"/console/tenants/{tenant_id}/audit")
    row = page.locator('tr.decision[data-kind="route"]', has_text="Grace Hopper").first
    expect(row.locator(".record-name")).to_have_text("Grace Hopper")
    expect(row.locator(".outcome")).to_contain_text("Alice Owner")
    link = row.get_by_role("link", name=re.compile(CRM_LABEL[platform]))
    assert re.search(CRM_URL[platform], link.get_attribute("href")), link.get_attribute("href")
    path = row.locator(".rule-path li")
    expect(path).to_have_count(3)
    expect(path.nth(0)).to_contain_text("Existing customers")
    expect(path.nth(1)).to_contain_text("postcode")
    expect(row.locator(".rule-path li.matched")).to_contain_text("Germany")
    expect(row.locator(".skipped")).to_contain_text("Bob Owner (out of office")
    shot(page, f"journey-{platform}-audit", docs="console-audit-log" if platform == "salesforce" else None)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, f"journey-{platform}-audit-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _draft(env, tenant_id: int) -> int:
    from integration.db import session_scope
    from integration.models import RuleSetVersion

    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.status == "draft")
                        .order_by(RuleSetVersion.version.desc()).limit(1)).version
