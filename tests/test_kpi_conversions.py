"""Issue 20: the conversion KPIs over constructed data, each figure against a value computed by hand (overall, by
source, by routing path), on SQLite and PostgreSQL, and never a row of another tenant."""
from __future__ import annotations

import datetime as dt

import pytest

from integration.admin import conversions as cv
from integration.db import migrate, session_scope
from integration.models import (
    Decision,
    InboundMessageRow,
    IntakeSubmission,
    LeadConversion,
    OutboundMessage,
    ReviewItem,
    SlaTimer,
    Tenant,
)

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 7)
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ANA, BEN = "ana@acme.test", "ben@acme.test"


def at(hours: float = 0, days: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, hours=hours)


def route(tenant_id, lead, outcome, rule="", source="", reason="r", when=None):
    inputs = {"rule": rule, "lead": {"id": lead, "source": source}} if rule or source else {}
    return Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:{lead}", kind="route", object_type="contact",
                    object_id=lead, outcome=outcome, reason=reason, inputs=inputs, created_at=when or at())


def sla_met(tenant_id, lead, outcome, seconds, when=None):
    return Decision(tenant_id=tenant_id, idempotency_key=f"sla:contact:{lead}:hot:met", kind="sla",
                    object_type="contact", object_id=lead, outcome=outcome, reason="First touch",
                    inputs={"first_touch_seconds": seconds}, created_at=when or at(1))


def clock(tenant_id, lead, status):
    return SlaTimer(tenant_id=tenant_id, key=f"sla:contact:{lead}:hot", object_type="contact", object_id=lead,
                    policy="hot", due_at=at(1), status=status)


def sent(tenant_id, lead, after_seconds, n=0, status="sent"):
    return OutboundMessage(tenant_id=tenant_id, key=f"ack:contact:{lead}:email:{n}", object_type="contact",
                           object_id=lead, channel="email", status=status, record_created_at=at(),
                           accepted_at=at() + dt.timedelta(seconds=after_seconds) if status == "sent" else None)


def converted(tenant_id, lead, kind, when=None):
    return LeadConversion(tenant_id=tenant_id, object_type="contact", object_id=lead, kind=kind,
                          at=when or at(days=1), ref_id="x")


def review(tenant_id, lead, kind):
    return ReviewItem(tenant_id=tenant_id, kind=kind, object_type="contact", object_id=lead, reason=kind)


def submission(tenant_id, lead, n, **utm):
    return IntakeSubmission(tenant_id=tenant_id, public_id=f"sub-{tenant_id}-{n}", fields={"email": "x@y", **utm},
                            object_type="contact", record_id=lead, status="done")


def reactivation(tenant_id, lead, outcome, when, n=0):
    return Decision(tenant_id=tenant_id, idempotency_key=f"reactivation:contact:{lead}:{n}", kind="reactivation",
                    object_type="contact", object_id=lead, outcome=outcome, reason="Idle", inputs={},
                    created_at=when)


UTM = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"}


@pytest.fixture()
def tenants(database_url):
    """Tenant 1: five leads in the range (c1–c5), one restored, one after the range, three reactivations.
    Tenant 2: the same ids with other facts, to catch a query that forgets the tenant."""
    migrate(database_url)
    with session_scope(database_url) as s:
        one, two = Tenant(platform="hubspot", external_id="k1", name="One"), Tenant(platform="hubspot",
                                                                                 external_id="k2", name="Two")
        s.add_all([one, two])
        s.flush()
        t, u = one.id, two.id
        s.add_all([
            route(t, "c1", "Ana@acme.test", "West", "Web form",
                  "Rule 'West' → pool west → ana@acme.test, round-robin, 1/25 open"),
            route(t, "c2", BEN, "West", "Web form", "Rule 'West' → pool west → ben@acme.test, round-robin"),
            route(t, "c3", ANA, "Enterprise", "Referral", "Rule 'Enterprise' → ana@acme.test"),
            route(t, "c4", "review", reason="Country missing"),
            route(t, "c5", "merged", source="Web form"),
            Decision(tenant_id=t, idempotency_key="undo:c6", kind="route", object_type="contact", object_id="c6",
                     outcome="restored", reason="undo", inputs={}, created_at=at()),
            route(t, "c7", ANA, "West", "Web form", "pool west → ana", when=at(days=6)),  # 8 March: outside
            converted(t, "c1", "meeting"), converted(t, "c1", "deal"), converted(t, "c1", "won"),
            converted(t, "c2", "deal"), converted(t, "c6", "meeting"), converted(t, "c7", "meeting"),
            sent(t, "c1", 60), sent(t, "c1", 600, n=1), sent(t, "c2", 120), sent(t, "c3", 0, status="skipped"),
            sla_met(t, "c1", "met", 300), sla_met(t, "c2", "met_late", 7200),
            clock(t, "c1", "met"), clock(t, "c2", "met_late"), clock(t, "c3", "breached"),
            review(t, "c2", "crm_error"), review(t, "c4", "validation"), review(t, "c3", "dedup"),
            submission(t, "c1", 1, **UTM), submission(t, "c2", 2, utm_source="google"),
            # s1: reactivated twice, then replied; s2: its meeting came before; s3: went to review
            reactivation(t, "s1", "task", at(), 0), reactivation(t, "s1", "task", at(days=3), 1),
            InboundMessageRow(tenant_id=t, key="email:r1", channel="email", object_type="contact", object_id="s1",
                              received_at=at(days=1)),
            reactivation(t, "s2", "cadence", at()), converted(t, "s2", "meeting", when=at(days=-1)),
            reactivation(t, "s3", "review", at()),
            # tenant 2: the same ids, other facts
            route(u, "c1", "review"), route(u, "c9", BEN, "East", "Ads", "pool east → ben"),
            converted(u, "c2", "won"), converted(u, "c4", "meeting"), sent(u, "c4", 5), sla_met(u, "c3", "met", 1),
            clock(u, "c4", "met"), review(u, "c1", "crm_error"), review(u, "c5", "validation"),
            submission(u, "c4", 3, **UTM), reactivation(u, "s2", "task", at()),
            InboundMessageRow(tenant_id=u, key="email:r2", channel="email", object_type="contact", object_id="s2",
                              received_at=at(days=1)),
        ])
    return database_url, t, u


def figures(database_url, tenant_id) -> cv.Conversions:
    with session_scope(database_url) as s:
        return cv.compute(s, tenant_id, START, END)


def test_the_overall_figures_are_the_hand_computed_ones(tenants):
    url, t, _ = tenants
    k = figures(url, t)
    f = k.overall
    assert f.leads == 5  # c1–c5: c6 was restored by an undo, c7 came after the range
    assert (f.meetings, f.deals, f.won) == (1, 2, 1)
    assert (f.meeting_rate, f.deal_rate, f.won_rate) == (20.0, 40.0, 20.0)
    assert sorted(f.auto_seconds) == [60, 120]  # c1's second message is not its first response
    assert (f.auto_median, f.auto_p90) == (90, 120)
    assert (f.human_median, f.human_p90) == (3750, 7200)
    assert (f.with_sla, f.inside_sla, f.inside_sla_rate) == (3, 1, 33.3)
    assert f.missing_field_rate == 20.0  # c4
    assert (f.source_rate, f.utm_rate) == (80.0, 20.0)  # c4 has no source; c2's UTM lacks medium and campaign
    assert (f.owned, f.clear_owner_rate) == (3, 60.0)
    assert (f.sync_failed, f.sync_failure_rate) == (1, 33.3)
    assert (k.reactivated, k.reactivated_active, k.reactivation_rate) == (2, 1, 50.0)


def test_by_source(tenants):
    url, t, _ = tenants
    by = figures(url, t).by_source
    assert sorted(by) == ["(no source)", "Referral", "Web form"]
    web, referral, none = by["Web form"], by["Referral"], by["(no source)"]
    assert (web.leads, web.meeting_rate, web.deal_rate, web.won_rate) == (3, 33.3, 66.7, 33.3)
    assert (web.clear_owner_rate, web.sync_failure_rate, web.utm_rate) == (66.7, 50.0, 33.3)
    assert (web.auto_median, web.human_median, web.inside_sla_rate) == (90, 3750, 50.0)
    assert (referral.leads, referral.inside_sla_rate, referral.deal_rate, referral.auto_median) == (1, 0.0, 0.0, None)
    assert (none.leads, none.missing_field_rate, none.source_rate, none.clear_owner_rate) == (1, 100.0, 0.0, 0.0)
    assert none.sync_failure_rate is None  # nothing was written for it


def test_by_routing_path(tenants):
    url, t, _ = tenants
    by = figures(url, t).by_path
    assert sorted(by) == [("(no rule)", "(no pool)", "(merged)"), ("(no rule)", "(no pool)", "(review)"),
                          ("Enterprise", "(no pool)", ANA), ("West", "west", ANA), ("West", "west", BEN)]
    assert (by[("West", "west", ANA)].won_rate, by[("West", "west", ANA)].auto_median) == (100.0, 60)
    assert (by[("West", "west", BEN)].deal_rate, by[("West", "west", BEN)].won_rate) == (100.0, 0.0)
    assert by[("West", "west", BEN)].sync_failure_rate == 100.0
    assert by[("West", "west", BEN)].human_median == 7200
    assert by[("Enterprise", "(no pool)", ANA)].inside_sla_rate == 0.0
    assert by[("(no rule)", "(no pool)", "(review)")].missing_field_rate == 100.0


def test_the_other_tenant_sees_only_its_own(tenants):
    url, _, u = tenants
    k = figures(url, u)
    f = k.overall
    assert f.leads == 2  # c1 (review) and c9
    assert (f.meetings, f.deals, f.won, f.auto_seconds, f.human_seconds) == (0, 0, 0, [], [])
    assert (f.with_sla, f.missing_field, f.with_utm, f.sync_failed, f.owned) == (0, 0, 0, 0, 1)
    assert (k.reactivated, k.reactivated_active) == (1, 1)
    assert sorted(k.by_source) == ["(no source)", "Ads"]
    assert ("East", "east", BEN) in k.by_path


def test_an_empty_range_has_no_rates(tenants):
    url, t, _ = tenants
    with session_scope(url) as s:
        k = cv.compute(s, t, dt.date(2025, 1, 1), dt.date(2025, 1, 7))
    assert k.overall.leads == 0 and k.by_source == {} and k.by_path == {}
    assert (k.overall.meeting_rate, k.overall.auto_median, k.reactivation_rate) == (None, None, None)


def test_one_owners_leads(tenants):
    url, t, _ = tenants
    with session_scope(url) as s:
        f = cv.compute(s, t, START, END, owner="ANA@acme.test").overall
    assert (f.leads, f.won_rate, f.inside_sla_rate, f.clear_owner_rate, f.sync_failure_rate) == (2, 50.0, 50.0,
                                                                                                 100.0, 0.0)
