"""Issue 13: the health page and the KPI page as an admin sees them, with data; screenshots for review."""
from __future__ import annotations

import datetime as dt
import random
import time

from redis import Redis

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or, under CI, fails) these tests
    expect = None

from integration.db import session_scope
from integration.models import Decision, EventRecord, ReviewItem, RuleSetVersion, SweepCursor, Tenant
from tests.browser.conftest import shot
from tests.browser.test_journeys import contact, install_hubspot, work
from tests.crm_helpers import browser as http
from tests.e2e.test_pipeline_flow import RULES

OWNERS = ["ana.owner@leadrelay.test", "ben.owner@leadrelay.test", "cleo.owner@leadrelay.test"]
TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def seed_activity(env, tenant_id: int, days: int = 14) -> None:
    """Two weeks of an account's life: routed leads with their speed, reviews, merges, SLA outcomes,
    escalations, a failed change, the install's first sweep finding, and a webhook a minute ago."""
    rng = random.Random(13)
    rows, n = [], 0
    for back in range(days - 1, -1, -1):
        day = TODAY - dt.timedelta(days=back)
        for _ in range(rng.randint(2, 9) if day.weekday() < 5 else rng.randint(0, 2)):
            n += 1
            created = day - dt.timedelta(minutes=rng.randint(0, 600))
            outcome = rng.choices([*OWNERS, "review", "merged"], weights=[5, 4, 2, 1, 1])[0]
            inputs = {"rule": "Everyone else"}
            if outcome in OWNERS:
                speed = rng.uniform(0.2, 3.0) if rng.random() < .9 else rng.uniform(20, 90)
                inputs.update(crm_created_at=created.isoformat(),
                              written_at=(created + dt.timedelta(seconds=speed)).isoformat())
            rows.append(Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:s{n}", kind="route",
                                 object_type="contact", object_id=f"s{n}", outcome=outcome, reason="seeded",
                                 inputs=inputs, created_at=created))
            if outcome == "review" or rng.random() < .08:
                rows.append(ReviewItem(tenant_id=tenant_id, kind="dedup", object_type="contact", object_id=f"s{n}",
                                       reason="Possible duplicate", created_at=created))
            if outcome in OWNERS:
                sla = rng.choices(["met", "met_late", "breached", "notify_manager"], weights=[8, 1, 1, 1])[0]
                rows.append(Decision(tenant_id=tenant_id, idempotency_key=f"sla:s{n}", kind="sla",
                                     object_type="contact", object_id=f"s{n}", outcome=sla, reason="seeded",
                                     inputs={}, created_at=created + dt.timedelta(minutes=10)))
    now = dt.datetime.now(dt.UTC)
    rows += [EventRecord(tenant_id=tenant_id, dedup_key="hook-1", platform="hubspot", object_type="contact",
                         object_id="s1", kind="created", source="CRM_UI", occurred_at=now, received_at=now,
                         status="processed"),
             EventRecord(tenant_id=tenant_id, dedup_key="hook-2", platform="hubspot", object_type="contact",
                         object_id="s2", kind="updated", source="CRM_UI", occurred_at=TODAY - dt.timedelta(days=3),
                         received_at=TODAY - dt.timedelta(days=3), status="failed", error="HubSpot 400")]
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all(rows)
        s.merge(SweepCursor(tenant_id=tenant_id, object_type="contact", cursor="1", swept_at=now, found=49))


def test_the_health_page_and_the_kpi_page_with_data(page, live, crm_sandbox, crm_env):
    tenant_id, _ = install_hubspot(page, crm_sandbox, "Health and KPIs")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        s.get(Tenant, tenant_id).installed_at = TODAY - dt.timedelta(days=20)
        for cursor in s.scalars(SweepCursor.for_tenant(tenant_id)):
            s.delete(cursor)
    seed_activity(crm_env, tenant_id)
    redis = Redis.from_url(crm_env["REDIS_URL"])
    # what a 429 leaves behind: the string next to the bucket's hash that the old page read as a hash
    redis.hset(f"leadrelay:rate:{tenant_id}:default", mapping={"tokens": 61, "ts": time.time()})
    redis.set(f"leadrelay:rate:{tenant_id}:default:learned-limit", 80, ex=3600)

    page.goto(f"/console/tenants/{tenant_id}/health")
    assert page.get_attribute('[data-health="state"] [data-health-state]', "data-health-state") == "ok"
    body = page.inner_text("body")
    assert "Redis did not answer" not in body and "renews itself" in body
    assert "took in 49 changes that no webhook had announced" in body
    shot(page, "16-health")

    with session_scope(crm_env["DATABASE_URL"]) as s:  # the CRM stops sending webhooks; the sweep finds changes
        s.scalar(EventRecord.for_tenant(tenant_id).where(EventRecord.dedup_key == "hook-1")).received_at = \
            dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        s.add(EventRecord(tenant_id=tenant_id, dedup_key="swept-1", platform="hubspot", object_type="contact",
                          object_id="s9", kind="updated", source="sweep", status="processed",
                          occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
                          received_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)))
    page.reload()
    assert page.get_attribute('[data-health="state"] [data-health-state]', "data-health-state") == "webhook_silent"
    shot(page, "16b-health-webhooks-silent")

    page.goto(f"/console/tenants/{tenant_id}/kpis?start={(TODAY - dt.timedelta(days=13)).date()}&end={TODAY.date()}")
    figures = page.locator(".figure strong").all_inner_texts()
    assert all(0 <= float(f.rstrip(" %")) <= 100 for f in figures if f.endswith("%")), figures
    page.locator("svg.day-chart g.day").nth(9).hover()  # a weekday's column: its value shows above it
    expect(page.locator("svg.day-chart g.day .val").nth(9)).to_be_visible()
    shot(page, "17-kpis", docs="console-kpis")

    page.goto(f"/console/tenants/{tenant_id}/kpis?start={TODAY.date()}&end={TODAY.date()}&owner={OWNERS[1]}")
    shot(page, "18-kpis-one-day-one-owner")

    page.goto(f"/console/tenants/{tenant_id}/kpis?start=2024-02-30")
    expect(page.locator("[data-kpi-error]")).to_contain_text("The From date “2024-02-30” is not a date")
    shot(page, "19-kpis-bad-date")


def test_a_simulation_tells_rule_changes_from_round_robin_turns(page, live, crm_sandbox, crm_env):
    tenant_id, account = install_hubspot(page, crm_sandbox, "Simulated")
    owners = {o["email"]: str(o["id"]) for o in http(crm_sandbox).get(
        f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/owners").json()["results"]}
    ana, ben = owners["ana.owner@leadrelay.test"], owners["ben.owner@leadrelay.test"]
    people = [("Hans", "Becker", "Germany", ana), ("Grace", "Hopper", "United States", ben),
              ("Alan", "Turing", "United Kingdom", ben), ("Ada", "Lovelace", "United Kingdom", ana),
              ("Linus", "Pauling", "United States", ben), ("Margaret", "Hamilton", "United States", None)]
    for first, last, country, owner in people:
        contact(crm_sandbox, account, firstname=first, lastname=last, email=f"{first.lower()}@{last.lower()}.example",
                country=country, **({"hubspot_owner_id": owner} if owner else {}))
    with session_scope(crm_env["DATABASE_URL"]) as s:
        s.add(RuleSetVersion(tenant_id=tenant_id, version=1, status="draft", body=RULES))
    page.goto(f"/console/tenants/{tenant_id}/simulate?version=1")
    page.fill("input[name=limit]", "200")
    page.click("button:has-text('Simulate')")
    work(crm_env, "maintenance")
    page.goto(f"/console/tenants/{tenant_id}/simulate?version=1&show=changed")
    expect(page.locator("[data-shortfall]")).to_contain_text("that is every contact in the CRM")
    assert page.locator('[data-change="rotation"]').count() >= 1 and page.locator('[data-change="rule"]').count() >= 1
    assert page.locator('[data-change="same"]').count() == 0
    shot(page, "20-simulation-changed-only")
