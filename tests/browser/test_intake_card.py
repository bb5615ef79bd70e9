"""The intake card in a real browser: an admin sets an allowed site, copies the snippet, and the snippet, served
from that site, posts a lead with the page's UTM parameters; the card fits a phone."""
from __future__ import annotations

import time

from sqlalchemy import select

from integration.db import session_scope
from integration.models import IntakeSubmission
from tests.browser.conftest import SCREENSHOTS, shot
from tests.browser.test_journeys import install_hubspot
from tests.intake_helpers import queued_submissions

LANDING = "https://www.acme-landing.test"


def test_the_intake_snippet_posts_a_lead_from_the_customers_page(page, live, crm_sandbox, crm_env):
    tenant_id, _account = install_hubspot(page, crm_sandbox, "Intake Card")
    page.goto(f"/console/tenants/{tenant_id}/settings#intake")
    card = page.locator("#intake")
    assert card.is_visible() and "Form address" in card.inner_text()
    page.fill("#intake-origins", LANDING)
    page.fill("#intake-aliases", "your-company = company")
    page.click("text=Save sites and field names")
    page.wait_for_url("**/settings#intake")
    assert "Intake settings saved." in page.inner_text("main")
    page.set_viewport_size({"width": 1440, "height": 900})
    card.scroll_into_view_if_needed()
    shot(page, "intake-card-1440")
    card.screenshot(path=str(SCREENSHOTS / "intake-card-only-1440.png"))  # the card alone, to look at closely
    snippet = page.input_value("#intake-snippet")
    assert f'action="{live[1]}/intake/v1/' in snippet

    # the customer's landing page, carrying the snippet as pasted (Chromium fetches it from "their" site)
    page.route(f"{LANDING}/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=f"<!doctype html><title>Landing</title><main>{snippet}</main>"))
    page.goto(f"{LANDING}/offer?utm_source=newsletter&utm_campaign=winter")
    page.wait_for_function("document.querySelector('[name=lr_ts]').value.length > 0")
    page.fill("[name=name]", "Ada Lovelace")
    page.fill("[name=email]", "ada@analytical.test")
    page.fill("[name=company]", "Analytical Engines")
    page.fill("[name=message]", "Please call me")
    time.sleep(3.2)  # a person takes longer than the minimum fill time
    with page.expect_navigation():
        page.click("text=Send")
    assert '"status":"accepted"' in page.content().replace(" ", "")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        row = s.scalar(select(IntakeSubmission).where(IntakeSubmission.tenant_id == tenant_id))
        assert row.status == "accepted", row.spam_reason
        assert row.fields["utm_source"] == "newsletter" and row.fields["utm_campaign"] == "winter"
        assert row.fields["page_url"].startswith(f"{LANDING}/offer") and row.fields["last_name"] == "Lovelace"
        submission_id = row.id
    assert ("integration.jobs.process_submission", (tenant_id, submission_id)) in queued_submissions(
        crm_env["REDIS_URL"])

    page.goto(f"{live[1]}/console/tenants/{tenant_id}/settings#intake")
    assert "1 submission" in page.inner_text("[data-intake-counts]")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#intake").scroll_into_view_if_needed()
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, (scroll, inner)
    shot(page, "intake-card-390")
    page.locator("#intake").screenshot(path=str(SCREENSHOTS / "intake-card-only-390.png"))
