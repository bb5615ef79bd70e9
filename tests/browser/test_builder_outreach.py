"""The rule builder's first-response and handoff sections in a real browser: an admin turns first response on for
hot leads with a template in two channels, writes a handoff rule, sees the loader's problems at the fields, and
opens the template preview and the outbox."""
from __future__ import annotations

import datetime as dt
import re

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or, under CI, fails) these tests
    expect = None

from integration.db import session_scope
from integration.models import Decision, utcnow
from integration.models.outreach import InboundMessageRow, OutboundMessage
from integration.rules import validate_rules
from tests.browser.conftest import shot
from tests.browser.test_rule_builder import at, install, saved


def test_an_admin_sets_up_first_response_and_handoff(page, live, crm_sandbox, crm_env):
    tenant_id = install(page, crm_sandbox, "hubspot", "Outreach builder")
    page.set_viewport_size({"width": 1440, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/console/tenants/{tenant_id}/rules/builder")
    assert not errors, errors
    section = page.locator("#sec-first-response")
    expect(section.locator(".merge-fields")).to_contain_text("{first_name}")

    section.get_by_label("New template's name").fill("welcome")
    section.get_by_role("button", name="Add a template").click()
    assert not errors, errors
    at(page, "first_response.hot.enabled").check()
    at(page, "first_response.hot.channels.sms").check()
    # SMS asked, but the template has no SMS text: the loader's refusal shows in the section
    expect(page.locator('[data-path="first_response"] > .field-error')).to_contain_text("give sms", timeout=10_000)
    expect(page.locator("#save-status")).to_contain_text("Not saved")
    shot(page, "builder-first-response-error")
    sms = at(page, "first_response.templates.welcome.en.sms", "textarea")
    sms.fill("Hi {first_name}, {owner_first_name} from Acme will call you shortly.")
    expect(section.locator(".sms-count")).to_contain_text("1 segment")
    expect(page.locator('[data-path="first_response"] > .field-error')).to_be_empty(timeout=10_000)

    handoff = page.locator("#sec-handoff")
    handoff.get_by_role("button", name="Add a handoff rule").click()
    at(page, "handoff[0].name").fill("Pricing")
    at(page, "handoff[0].when.phrases").fill("price, how much")
    at(page, "handoff[0].actions.pause_cadence").check()
    at(page, "handoff[0].say").fill("asked about pricing")
    # a reply's condition on a new-lead rule is refused at the rule
    at(page, "handoff[0].trigger", "select").select_option("new_lead")
    expect(page.locator('[data-path="handoff[0]"] > .field-error')).to_contain_text("trigger: reply", timeout=10_000)
    shot(page, "builder-handoff-error")
    at(page, "handoff[0].trigger", "select").select_option("reply")
    expect(page.locator('[data-path="handoff[0]"] > .field-error')).to_be_empty(timeout=10_000)

    body = saved(page, crm_env, tenant_id)
    rules = validate_rules(body)
    assert rules.first_response.hot.channels == ["email", "sms"] and rules.first_response.hot.template == "welcome"
    assert [(r.name, r.trigger, r.actions, r.when.phrases) for r in rules.handoff] == [
        ("Pricing", "reply", ["notify_owner", "pause_cadence"], ["price", "how much"])]
    shot(page, "builder-first-response")

    section.get_by_role("link", name="Preview the templates with a real recent lead").click()
    expect(page.locator("h1")).to_have_text("First-response templates")
    expect(page.locator("[data-sample-lead]")).to_contain_text("Sample lead")
    expect(page.locator("[data-sms]")).to_contain_text(re.compile(r"Hi Sam, .+ from Acme will call you shortly\."))
    shot(page, "template-preview")

    page.get_by_role("link", name="Outbox").first.click()
    expect(page.locator("h1")).to_have_text("Outbox")
    expect(page.locator("[data-count=sent]")).to_have_text("0")

    # what the first-response job and the handoff rules leave behind, as the outbox shows it
    now = utcnow()
    with session_scope(crm_env["DATABASE_URL"]) as s:
        s.add_all([
            Decision(tenant_id=tenant_id, idempotency_key="route:contact:501", kind="route", object_type="contact",
                     object_id="501", outcome="alice.owner@leadrelay.test", reason="r",
                     inputs={"lead": {"first_name": "Ada", "last_name": "Lovelace", "company": "Acme"}}),
            OutboundMessage(tenant_id=tenant_id, key="ack:contact:501:email", object_type="contact", object_id="501",
                            channel="email", sender="smtp", status="sent", to_address="ada@acme.test",
                            subject="Thanks, Ada", body="Hi Ada,\n\nAlice will be in touch shortly.",
                            record_created_at=now - dt.timedelta(seconds=20),
                            accepted_at=now - dt.timedelta(seconds=4)),
            OutboundMessage(tenant_id=tenant_id, key="ack:contact:501:sms", object_type="contact", object_id="501",
                            channel="sms", sender="sms", status="skipped", reason="quiet_hours",
                            to_address="+14155550100", record_created_at=now - dt.timedelta(seconds=20)),
            InboundMessageRow(tenant_id=tenant_id, key="email:9", channel="email", object_type="contact",
                              object_id="501", sender="ada@acme.test", subject="Re: Thanks, Ada",
                              text="How much does it cost?", received_at=now, handled_at=now,
                              outcome={"matched": True, "rules": [
                                  {"rule": "Pricing", "why": "Handoff rule 'Pricing': said 'how much'",
                                   "words": ["how much"],
                                   "actions": {"notify_owner": "task", "pause_cadence": "0"}}]})])
    page.reload()
    expect(page.locator("[data-count=sent]")).to_have_text("1")
    expect(page.locator("tr[data-status=sent] [data-seconds]")).to_have_text("16.0 s")
    page.locator("tr[data-status=sent] summary").click()
    expect(page.locator("tr[data-status=sent] pre")).to_contain_text("Alice will be in touch shortly.")
    expect(page.locator("tr[data-reply]")).to_contain_text("owner notified, cadence paused")
    shot(page, "outbox")
