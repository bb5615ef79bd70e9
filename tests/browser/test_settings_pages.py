"""The settings page and the agency's client invites, in a real browser against the CRM sandbox, on a desktop and
on a phone-sized screen."""
from __future__ import annotations

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or, under CI, fails) these tests
    expect = None

from sqlalchemy import select

from integration.db import session_scope
from integration.models import Agency, AgencyInviteUse, ConsoleUser, Tenant
from tests.browser.conftest import shot, sign_in_as
from tests.browser.test_journeys import install_hubspot

DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}


def both_sizes(page, name: str) -> None:
    """A screenshot at each size, and no sideways scrolling on the phone."""
    for size, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(size)
        shot(page, f"{name}-{suffix}")
        if size is PHONE:
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 390 px"
    page.set_viewport_size(DESKTOP)


def test_a_tenant_admin_invites_revokes_sets_the_sweep_and_reads_the_disconnect_page(page, live, crm_sandbox,
                                                                                     crm_env):
    tenant_id, _account = install_hubspot(page, crm_sandbox, "Settings Co")
    page.goto(f"/console/tenants/{tenant_id}/settings")
    expect(page.locator("h1")).to_have_text("Settings")
    expect(page.locator("[data-token-state]")).to_have_text("Valid")
    both_sizes(page, "20-settings")

    page.fill("#invite-email", "new.person@settings.example")
    page.select_option("#invite-role", "viewer")
    page.click("#members button:has-text('Invite')")
    expect(page.locator("[data-invite-created]")).to_contain_text("new.person@settings.example")
    assert page.locator("[data-invite-created] button[data-copy]").count() == 1
    expect(page.locator('tr[data-invitation="new.person@settings.example"]')).to_be_visible()
    page.locator("#members").scroll_into_view_if_needed()
    both_sizes(page, "21-members-invited")

    page.click('tr[data-invitation="new.person@settings.example"] >> text=Revoke…')
    expect(page.locator("h1")).to_contain_text("Revoke the invitation of new.person@settings.example?")
    page.click("button:has-text('Revoke the invitation')")
    expect(page.locator(".flash")).to_contain_text("is revoked")
    expect(page.locator('tr[data-invitation="new.person@settings.example"]')).to_have_count(0)

    page.select_option("#sweep-interval", "900")
    page.click("#sweep button:has-text('Save')")
    expect(page.locator(".flash")).to_contain_text("every 15 minutes")
    expect(page.locator("[data-sweep-current]")).to_have_text("every 15 minutes")

    page.click("#danger a.btn.danger")
    page.wait_for_url(f"**/console/tenants/{tenant_id}/disconnect")
    expect(page.locator("[data-erased]")).to_contain_text("stored HubSpot tokens")
    both_sizes(page, "22-disconnect-confirm")
    page.fill("#confirm-name", "Something else")
    page.click("text=Disconnect and erase")
    expect(page.locator(".field-error")).to_contain_text("Nothing was changed")
    both_sizes(page, "23-disconnect-refused")
    page.click("text=Cancel")
    page.wait_for_url(f"**/console/tenants/{tenant_id}/settings#danger")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert s.get(Tenant, tenant_id).status == "active"

    page.goto("/console/me")
    expect(page.locator('[data-identity="hubspot"]')).to_contain_text("settings-co.example.com")
    assert page.locator("text=Link a Salesforce sign-in").count() == 1
    both_sizes(page, "26-your-profile")


def test_an_agency_invite_serves_two_portals_and_lists_both_uses(page, live, crm_sandbox, crm_env):
    with session_scope(crm_env["DATABASE_URL"]) as s:
        agency = Agency(name="Relay Partners")
        s.add(agency)
        s.flush()
        boss = ConsoleUser(platform="hubspot", external_account_id="agency", external_user_id="boss",
                           name="Agnes Boss", email="agnes@relay.example", agency_id=agency.id, agency_role="admin")
        s.add(boss)
    sign_in_as(page, live, boss)
    page.goto("/console/agency")
    page.click(".page-head button:has-text('Invite client accounts')")
    code = page.locator("[data-invite-code]").inner_text()
    assert page.locator("button[data-copy]").count() == 4  # three install links and the code
    both_sizes(page, "24-agency-invite-created")

    browser = page.context.browser
    # one client installs from the link; another, already a LeadRelay user, pastes the code on its settings page
    first = browser.new_context(ignore_https_errors=True, base_url=live[1])
    install_hubspot(first.new_page(), crm_sandbox, "Portal One", f"/install/hubspot?invite={code}")
    first.close()
    second = browser.new_context(ignore_https_errors=True, base_url=live[1])
    admin = second.new_page()
    second_id, _ = install_hubspot(admin, crm_sandbox, "Portal Two")
    admin.goto(f"/console/tenants/{second_id}/settings#agency")
    admin.fill("#agency-code", code)
    admin.select_option("#agency-join-grant", "viewer")
    admin.click("text=Let the agency manage this account")
    expect(admin.locator(".flash")).to_contain_text("now managed by the agency Relay Partners")
    expect(admin.locator("#agency")).to_contain_text("as viewer at most")
    second.close()

    page.goto("/console/agency#invites")
    uses = page.locator("[data-invite-uses] li")
    expect(uses).to_have_count(2)
    texts = uses.all_inner_texts()
    assert any(t.startswith("portal-one.example.com (HubSpot) on ") for t in texts), texts
    assert any(t.startswith("portal-two.example.com (HubSpot) on ") for t in texts), texts
    assert page.locator("#invites button[data-copy]").count() >= 1
    both_sizes(page, "25-agency-invites")

    page.click("#invites >> text=Revoke…")
    expect(page.locator("[data-confirm-lines]")).to_contain_text("The 2 portals already linked with it stay linked")
    page.click("button:has-text('Revoke the invite')")
    expect(page.locator("[data-invite-state=revoked]")).to_have_count(1)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(AgencyInviteUse)).all()) == 2
