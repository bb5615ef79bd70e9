"""Issue 20: where LeadConversion rows come from. A changed deal (the drain's lifecycle step) records DEAL, and WON
when won, once, for the deal's contacts LeadRelay routed; the sweep's meetings pass records a routed lead's first
MEETING once and goes on from its cursor."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.errors import CRMTransient
from integration.intake.sweep import MEETINGS, sweep_meetings, sweep_tenant
from integration.models import Decision, LeadConversion, RuleSetVersion, SweepCursor, Tenant
from integration.pipeline.flow import process_records
from integration.records import CRMUser, Meeting
from tests.fakes import FakeCRMAdapter

ANA = "ana@acme.test"
RULES = {"version": 1, "owners": [{"email": ANA}],
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": ANA}}]}
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _tenant(env, fake, *routed: str, external_id: str = "A") -> int:
    fake.users = [CRMUser(id="u1", email=ANA, name="Ana")]
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id=external_id, name=external_id)
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES))
        s.add_all([Decision(tenant_id=tenant.id, idempotency_key=f"route:contact:{c}", kind="route",
                            object_type="contact", object_id=c, outcome=ANA, reason="r", inputs={}) for c in routed])
        return tenant.id


@pytest.fixture()
def crm(app, env, wire_adapters):
    fake = FakeCRMAdapter()
    wire_adapters(lambda tenant_id: fake)
    return fake


def conversions(env, tenant_id=None) -> list[tuple]:
    with session_scope(env["DATABASE_URL"]) as s:
        stmt = select(LeadConversion.tenant_id, LeadConversion.object_id, LeadConversion.kind,
                      LeadConversion.ref_id).order_by(LeadConversion.id)
        if tenant_id is not None:
            stmt = stmt.where(LeadConversion.tenant_id == tenant_id)
        return [tuple(r) for r in s.execute(stmt)]


def deal_changed(env, tenant_id, fake, deal) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        process_records(s, tenant_id, fake, "deal", [deal], gone=[])


def test_a_deal_records_deal_then_won_once_for_its_routed_contacts(crm, env):
    tenant_id = _tenant(env, crm, "c1")
    crm.put("contact", "c1", email="a@x.test")
    crm.put("contact", "c2", email="b@x.test")  # never routed by LeadRelay: not a lead of ours
    deal_changed(env, tenant_id, crm, crm.put_deal("d1", "open", "c1", "c2"))
    deal_changed(env, tenant_id, crm, crm.records[("deal", "d1")])  # a replayed webhook
    assert conversions(env) == [(tenant_id, "c1", "deal", "d1")]
    deal_changed(env, tenant_id, crm, crm.put_deal("d1", "won", "c1", "c2"))
    deal_changed(env, tenant_id, crm, crm.put_deal("d2", "won", "c1"))  # a second deal: the lead converted already
    assert conversions(env) == [(tenant_id, "c1", "deal", "d1"), (tenant_id, "c1", "won", "d1")]


def test_a_won_deal_seen_first_records_both(crm, env):
    tenant_id = _tenant(env, crm, "c1")
    other = _tenant(env, crm, "c1", external_id="B")  # the same contact id routed in another portal
    crm.put("contact", "c1", email="a@x.test")
    deal_changed(env, tenant_id, crm, crm.put_deal("d9", "won", "c1"))
    assert conversions(env) == [(tenant_id, "c1", "deal", "d9"), (tenant_id, "c1", "won", "d9")]
    assert conversions(env, other) == []


def test_the_meetings_pass_records_a_first_meeting_once_and_keeps_its_cursor(crm, env):
    tenant_id = _tenant(env, crm, "c1", "c2")
    crm.meetings = [Meeting("m1", "contact", "c1", T0), Meeting("m2", "contact", "c1", T0 + dt.timedelta(hours=1)),
                    Meeting("m3", "contact", "x9", T0)]
    assert sweep_meetings(tenant_id, crm) == 1
    assert conversions(env) == [(tenant_id, "c1", "meeting", "m1")]
    crm.meetings.append(Meeting("m4", "contact", "c2", T0 + dt.timedelta(days=1)))
    assert sweep_meetings(tenant_id, crm) == 1
    assert sweep_meetings(tenant_id, crm) == 0
    assert conversions(env) == [(tenant_id, "c1", "meeting", "m1"), (tenant_id, "c2", "meeting", "m4")]
    with session_scope(env["DATABASE_URL"]) as s:
        cursor = s.scalar(select(SweepCursor.cursor).where(SweepCursor.tenant_id == tenant_id,
                                                           SweepCursor.object_type == MEETINGS))
    assert cursor == "4"


def test_the_meetings_pass_pages_through_a_long_list(crm, env):
    tenant_id = _tenant(env, crm, *[f"c{i}" for i in range(150)])
    crm.meetings = [Meeting(f"m{i}", "contact", f"c{i}", T0) for i in range(150)]
    assert sweep_meetings(tenant_id, crm) == 150
    assert crm.calls["meetings_since"] == 2


def test_the_sweep_runs_the_meetings_pass(crm, env):
    tenant_id = _tenant(env, crm, "c1")
    crm.meetings = [Meeting("m1", "contact", "c1", T0)]
    sweep_tenant(tenant_id)
    assert conversions(env) == [(tenant_id, "c1", "meeting", "m1")]


class FlakyMeetings(FakeCRMAdapter):
    """A CRM whose meetings read fails on the second page (a 5xx): the lead sweep stands, the cursor stays."""

    def meetings_since(self, cursor, limit=100):
        if cursor not in (None, "0"):
            raise CRMTransient("meetings search: 502")
        return super().meetings_since(cursor, limit)


def test_a_failing_meetings_read_keeps_the_cursor_and_not_the_sweep(app, env, wire_adapters):
    fake = FlakyMeetings()
    wire_adapters(lambda tenant_id: fake)
    tenant_id = _tenant(env, fake, *[f"c{i}" for i in range(120)])
    fake.meetings = [Meeting(f"m{i}", "contact", f"c{i}", T0) for i in range(120)]
    fake.put("contact", "n1", email="n@x.test")
    assert sweep_tenant(tenant_id) == 1  # the lead the webhooks missed is taken in
    assert len(conversions(env)) == 100  # the first page's
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(SweepCursor.cursor).where(SweepCursor.tenant_id == tenant_id,
                                                         SweepCursor.object_type == MEETINGS)) == "100"
