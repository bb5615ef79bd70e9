"""What an admin, a viewer and an agency admin do in the console, in a real browser against the CRM sandbox."""
from __future__ import annotations

import datetime as dt

import yaml
from redis import Redis

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or, under CI, fails) these tests
    expect = None

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import ConsoleUser, Membership, ReviewItem, Tenant
from integration.records import Event
from tests.browser.conftest import shot, sign_in_as
from tests.crm_helpers import browser as http
from tests.crm_helpers import new_account
from tests.e2e.test_pipeline_flow import OWNERS, RULES  # the same two owners and rules as the e2e flow
from tests.workers import BurstWorker

BROKEN = yaml.safe_dump({**RULES, "routing": [{**RULES["routing"][0], "when": {"country": ["Atlantis"]}},
                                              RULES["routing"][1]]}, sort_keys=False)


def contact(server, account: dict, **properties) -> str:
    resp = http(server).post(f"{server.url}/_sandbox/accounts/{account['account_id']}/simulate",
                             json={"action": "create", "object_type": "contacts", "properties": properties})
    resp.raise_for_status()
    return str(resp.json()["id"])


def install_hubspot(page, server, name: str, start: str = "/install/hubspot") -> tuple[int, dict]:
    """Install from the marketplace link; the sandbox auto-approves and the browser follows the redirects."""
    account = new_account(server, "hubspot", name=name, users=OWNERS)
    authorize = page.request.get(start, max_redirects=0)
    assert authorize.status == 302, authorize.text()
    page.goto(f"{authorize.headers['location']}&account={account['account_id']}")
    page.wait_for_url("**/onboarding")
    tenant_id = int(page.url.rsplit("/", 2)[-2])
    return tenant_id, account


def work(env, *queues: str) -> None:
    BurstWorker(list(queues), connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def deliver(env, tenant_id: int, object_id: str) -> None:
    """What the webhook endpoint does for a new contact (it has its own tests), then the drain job runs."""
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, tenant_id, [Event(platform="hubspot", account_id="", object_type="contact",
                                           object_id=object_id, kind="created",
                                           occurred_at=dt.datetime.now(dt.UTC), event_id=f"browser-{object_id}")])
    enqueue_drain(tenant_id)
    work(env, "intake")


def test_install_edit_simulate_publish_then_a_new_lead_is_routed(page, live, crm_sandbox, crm_env):
    tenant_id, account = install_hubspot(page, crm_sandbox, "Browser Flow")
    assert "LeadRelay is installed in" in page.inner_text("h1")
    assert page.locator('[data-user="ben.owner@leadrelay.test"]').is_visible()
    shot(page, "01-onboarding")

    page.goto(f"/console/tenants/{tenant_id}/rules")
    page.fill("textarea[name=body]", BROKEN)
    page.click("text=Save draft")
    error = page.locator(".flash-error")
    expect(error).to_contain_text("The rule set was not saved")
    expect(error).to_contain_text('"Atlantis" is not a country')
    assert page.locator(".listing .bad").count() >= 1  # the offending line is marked
    assert "Atlantis" in page.input_value("textarea[name=body]")  # the text is kept for fixing
    shot(page, "02-rules-error")

    page.fill("textarea[name=body]", yaml.safe_dump(RULES, sort_keys=False))
    page.click("text=Save draft")
    expect(page.locator("body")).to_contain_text("Saved draft version 1")
    shot(page, "03-rules-saved")

    contact(crm_sandbox, account, firstname="Linus", lastname="Old", email="linus@old.example", country="Germany")
    page.goto(f"/console/tenants/{tenant_id}/simulate?version=1")
    page.click("button:has-text('Simulate')")
    work(crm_env, "maintenance")
    page.goto(f"/console/tenants/{tenant_id}/simulate?version=1")
    assert page.inner_text("[data-leads]") == "1"
    assert page.locator('[data-owner="ben.owner@leadrelay.test"]').is_visible()
    shot(page, "04-simulation", docs="console-simulation")

    page.click("text=Go live with version 1")  # the simulation page links to the confirmation page
    expect(page.locator("h1")).to_contain_text("Go live with version 1?")
    summary = page.locator("[data-simulation-summary]")
    expect(summary).to_contain_text("Of your 1 most recent lead, 1 would get another owner")
    assert page.locator("[data-example] a[target=_blank]").count() == 1  # the lead by name, opened in HubSpot
    shot(page, "04b-publish-confirm")
    for path, name in ((f"/console/tenants/{tenant_id}/rules/1/publish", "04c-publish-confirm-phone"),
                       (f"/console/tenants/{tenant_id}/simulate?version=1", "04d-simulation-phone"),
                       (f"/console/tenants/{tenant_id}/onboarding", "04e-onboarding-phone")):
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(path)
        shot(page, name)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"/console/tenants/{tenant_id}/onboarding")
    expect(page.locator('[data-step="simulate"]')).to_have_attribute("data-state", "done")
    shot(page, "04f-onboarding-simulated")
    page.click("text=Go live with version 1")
    page.click("[data-confirm-publish]")
    expect(page.locator("body")).to_contain_text("Version 1 is live")
    expect(page.locator('[data-step="live"]')).to_have_attribute("data-state", "done")  # back to onboarding
    shot(page, "05-published")

    lead = contact(crm_sandbox, account, firstname="Grace", lastname="Hopper", email="Grace.Hopper@Navy.example",
                   phone="+49 30 1234567", country="Germany", company="Navy")
    deliver(crm_env, tenant_id, lead)

    page.goto(f"/console/tenants/{tenant_id}/audit")
    entries = page.inner_text("body")
    assert "ben.owner@leadrelay.test" in entries
    assert "Rule 'Germany' (country DE)" in entries
    shot(page, "06-audit")

    page.goto(f"/console/tenants/{tenant_id}/kpis")
    assert page.inner_text('[data-kpi="leads"] strong') == "1"
    assert "ben.owner@leadrelay.test" in page.inner_text("body")
    shot(page, "07-kpis")


def test_review_queue_not_a_duplicate_and_merge(page, live, crm_sandbox, crm_env):
    tenant_id, account = install_hubspot(page, crm_sandbox, "Browser Review")
    pairs = [(contact(crm_sandbox, account, firstname="Jon", lastname="Smith", email=f"jon{n}@smith.example"),
              contact(crm_sandbox, account, firstname="Jon", lastname="Smith", email=f"jon{n}@smith-co.example"))
             for n in (1, 2)]
    with session_scope(crm_env["DATABASE_URL"]) as s:
        items = [ReviewItem(tenant_id=tenant_id, kind="dedup", object_type="contact", object_id=new,
                            other_object_id=old, reason=f"{new} may be a duplicate of {old}",
                            payload={"score": 0.8, "reasons": ["same name"]}) for new, old in pairs]
        s.add_all(items)
        s.flush()
        first, second = items[0].id, items[1].id
    page.goto(f"/console/tenants/{tenant_id}/review")
    assert page.locator(".review-item").count() == 2
    assert "jon1@smith-co.example" in page.inner_text(f"#item-{first}")  # both records side by side
    shot(page, "08-review-queue", docs="console-review-queue")

    page.click(f"#item-{first} >> text=Not a duplicate")
    expect(page.locator("body")).to_contain_text("are kept apart")
    page.click(f"#item-{second} >> text=Merge…")  # a page says what the merge will do before it is done
    expect(page.locator("h1")).to_have_text("Merge these two records?")
    page.click("button.danger")
    expect(page.locator("body")).to_contain_text("Merged")
    expect(page.locator(".review-item")).to_have_count(0)
    shot(page, "09-review-merged")
    records = http(crm_sandbox).get(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/contacts").json()
    ids = {str(r["id"]) for r in (records.get("results", records) if isinstance(records, dict) else records)}
    # the second pair is one record now: HubSpot's merge makes it a new one (changelog "Updated merge functionality
    # for contacts and companies"), so neither old id is listed
    assert not ids & set(pairs[1]) and len(ids) == 3
    assert set(pairs[0]) <= ids  # the first pair was kept apart


def _user(s, email: str, **extra) -> ConsoleUser:
    user = ConsoleUser(platform="hubspot", external_user_id=email, email=email, name=email.split("@")[0], **extra)
    s.add(user)
    s.flush()
    return user


def test_a_viewer_cannot_reach_the_editor(page, live, crm_env):
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="4242", name="Viewer Co")
        s.add(tenant)
        s.flush()
        viewer = _user(s, "victor@viewer.example")
        s.add(Membership(tenant_id=tenant.id, user_id=viewer.id, role="viewer"))
        tenant_id = tenant.id
    sign_in_as(page, live, viewer)
    page.goto(f"/console/tenants/{tenant_id}/rules")
    assert page.locator("textarea[name=body]").count() == 0
    assert page.locator("text=Save draft").count() == 0
    shot(page, "10-viewer-rules")
    token = page.get_attribute("input[name=csrf_token]", "value")  # the sign-out form's: a valid token
    resp = page.request.post(f"/console/tenants/{tenant_id}/rules", form={"csrf_token": token, "body": "version: 1"})
    assert resp.status == 403


def test_agency_admin_rolls_a_template_out_to_two_portals(page, live, crm_sandbox, crm_env):
    first_id, account = install_hubspot(page, crm_sandbox, "Client One")
    page.click("text=Create the starter draft")  # onboarding: a rule set prefilled from the CRM users
    expect(page.locator("body")).to_contain_text("Draft version 1")
    contact(crm_sandbox, account, firstname="Mia", lastname="Lead", email="mia@lead.example")
    page.goto("/console/agency")
    shot(page, "11-agency-new")
    page.fill("input[name=name]", "Relay Partners")
    page.click("form[method=post]:has(input[name=name]) button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Relay Partners")
    page.click(".page-head button:has-text('Invite client accounts')")
    code = page.locator("[data-invite-code]").inner_text()
    shot(page, "12-agency-invite")

    client = page.context.browser.new_context(ignore_https_errors=True, base_url=live[1])  # the client's admin
    second_id, _ = install_hubspot(client.new_page(), crm_sandbox, "Client Two", f"/install/hubspot?invite={code}")
    client.close()
    page.goto("/console/agency")
    portals = ("client-one.example.com", "client-two.example.com")  # the sandbox names portals by domain
    assert set(portals) <= {t.strip() for t in page.locator("table a").all_inner_texts()}
    shot(page, "13-agency-portfolio")

    page.goto("/console/agency/templates")
    page.fill("input[name=name]", "Starter")
    page.select_option("select[name=tenant_id]", str(first_id))
    page.click("text=Save template")
    expect(page.locator("body")).to_contain_text("Template 'Starter' copied from")
    for tenant_id in (first_id, second_id):
        page.check(f"input[name=tenant_id][value='{tenant_id}']")
    page.click("text=Create drafts and simulate")
    expect(page.locator("body")).to_contain_text("simulating on 2 portal(s)")
    work(crm_env, "maintenance")
    page.reload()
    assert page.locator("[data-summary]").count() == 2  # a simulation per portal before anything is published
    shot(page, "14-template-simulated")
    for name in portals:
        page.click(f"text=Publish on {name}")  # a confirmation page says what publishing replaces
        expect(page.locator("[data-confirm-lines]")).to_contain_text("live rules are replaced")
        page.click("button:has-text('Publish on 1 portal')")
        expect(page.locator("body")).to_contain_text(f"{name}: version")
    expect(page.locator("[data-live]")).to_have_count(2)
    shot(page, "15-template-published")
