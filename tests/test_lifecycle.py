"""Lifecycle consistency and stale-lead reactivation with the in-memory FakeCRMAdapter."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.db import session_scope
from integration.errors import CRMValidationError
from integration.followup.stale import reactivate_stale, schedule_reactivation, stage_matches
from integration.models import Decision, ReviewItem, RuleSetVersion, Tenant
from integration.pipeline.flow import process_records
from integration.records import CRMUser, Record
from tests.fakes import FakeCRMAdapter
from tests.workers import BurstWorker

ANA, BEN = "ana@acme.test", "ben@acme.test"
RULES = {
    "version": 1,
    "owners": [{"email": ANA}, {"email": BEN}],
    "pools": {"team": {"members": [ANA, BEN]}},
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "stale": [{"stage": "lead", "after": "14d", "action": "reactivation_task"},
              {"stage": "lost", "after": "180d", "action": "reactivation_cadence"}],
    "lifecycle": {"rules": [{"when": {"deal": "open"}, "set": "opportunity"},
                            {"when": {"deal": "won"}, "set": "customer"}]},
}
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class NoStageFieldAdapter(FakeCRMAdapter):
    """A CRM whose contacts have no lifecycle stage field (Salesforce Contact, Pipedrive person)."""

    PLATFORM = "salesforce"

    def set_fields(self, object_type: str, record_id: str, fields: dict) -> None:
        raise CRMValidationError("Contact has no writable field for lifecycle_stage")


def _tenant(env, fake, rules=None) -> int:
    fake.users = [CRMUser(id="u1", email=ANA, name="Ana"), CRMUser(id="u2", email=BEN, name="Ben")]
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=rules or RULES))
        return tenant.id


@pytest.fixture()
def crm(app, env, wire_adapters):
    fake = FakeCRMAdapter()
    wire_adapters(lambda tenant_id: fake)
    return fake


def deals_changed(env, tenant_id: int, fake, *deals: Record) -> None:
    """What the drain does with a batch of changed deals (a replay is the same call again)."""
    with session_scope(env["DATABASE_URL"]) as s:
        process_records(s, tenant_id, fake, "deal", [fake.records[("deal", d.id)] for d in deals], gone=[])


def decisions(env, kind: str = "lifecycle") -> list[tuple[str, str, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(d.object_id, d.outcome, d.reason) for d in s.scalars(
            select(Decision).where(Decision.kind == kind).order_by(Decision.id))]


# lifecycle ------------------------------------------------------------------------------------------------
def test_a_won_deal_makes_its_contacts_customers_once(crm, env):
    tenant_id = _tenant(env, crm)
    crm.put("contact", "c1", email="a@x.test", lifecycle_stage="opportunity")
    crm.put("contact", "c2", email="b@x.test")
    deal = crm.put_deal("d1", "won", "c1", "c2")
    deals_changed(env, tenant_id, crm, deal)
    assert crm.records[("contact", "c1")].fields["lifecycle_stage"] == "customer"
    assert crm.records[("contact", "c2")].fields["lifecycle_stage"] == "customer"
    assert [(o, out) for o, out, _ in decisions(env)] == [("c1", "set"), ("c2", "set")]
    assert decisions(env)[0][2] == "Deal d1 is won: lifecycle stage opportunity → customer"
    writes = crm.calls["set_fields"]
    deals_changed(env, tenant_id, crm, deal)  # the webhook replayed / the job retried
    assert crm.calls["set_fields"] == writes
    assert len(decisions(env)) == 2


def test_moving_a_customer_back_to_opportunity_is_refused_and_audited_once(crm, env):
    tenant_id = _tenant(env, crm)
    crm.put("contact", "c1", email="a@x.test", lifecycle_stage="customer")
    deal = crm.put_deal("d1", "open", "c1")
    deals_changed(env, tenant_id, crm, deal)
    deals_changed(env, tenant_id, crm, deal)
    assert crm.records[("contact", "c1")].fields["lifecycle_stage"] == "customer"
    assert crm.calls["set_fields"] == 0
    assert decisions(env) == [("c1", "refused", "Refused: deal d1 is open (rule → opportunity), but the contact "
                                                "is at customer; lifecycle is forward-only")]


def test_a_batch_with_a_won_and_an_open_deal_of_one_contact_ends_at_customer(crm, env):
    tenant_id = _tenant(env, crm)
    crm.put("contact", "c1", email="a@x.test", lifecycle_stage="lead")
    deals_changed(env, tenant_id, crm, crm.put_deal("d1", "won", "c1"), crm.put_deal("d2", "open", "c1"))
    assert crm.records[("contact", "c1")].fields["lifecycle_stage"] == "customer"
    assert [out for _, out, _ in decisions(env)] == ["set", "refused"]


def test_without_forward_only_a_rule_may_move_a_stage_back(crm, env):
    rules = {**RULES, "lifecycle": {**RULES["lifecycle"], "forward_only": False}}
    tenant_id = _tenant(env, crm, rules)
    crm.put("contact", "c1", email="a@x.test", lifecycle_stage="customer")
    deals_changed(env, tenant_id, crm, crm.put_deal("d1", "open", "c1"))
    assert crm.records[("contact", "c1")].fields["lifecycle_stage"] == "opportunity"


def test_a_crm_without_a_stage_field_is_skipped_with_the_reason(app, env, wire_adapters):
    fake = NoStageFieldAdapter()
    wire_adapters(lambda tenant_id: fake)
    tenant_id = _tenant(env, fake)
    fake.put("contact", "c1", email="a@x.test")
    deal = fake.put_deal("d1", "won", "c1")
    deals_changed(env, tenant_id, fake, deal)
    deals_changed(env, tenant_id, fake, deal)
    assert decisions(env) == [("c1", "skipped", "Skipped: salesforce contacts have no lifecycle stage field "
                                                "(Contact has no writable field for lifecycle_stage)")]


def test_a_deal_without_a_rule_for_its_status_or_without_contacts_changes_nothing(crm, env):
    tenant_id = _tenant(env, crm)
    crm.put("contact", "c1", email="a@x.test", lifecycle_stage="lead")
    deals_changed(env, tenant_id, crm, crm.put_deal("d1", "lost", "c1"), crm.put_deal("d2", "won"))
    assert crm.calls["set_fields"] == 0 and decisions(env) == []


def test_a_stage_moved_back_in_the_crm_is_restored_once(crm, env):
    tenant_id = _tenant(env, crm)
    crm.put("contact", "c1", email="a@x.test", lifecycle_stage="opportunity")
    deals_changed(env, tenant_id, crm, crm.put_deal("d1", "won", "c1"))
    moved_back = crm.put("contact", "c1", email="a@x.test", lifecycle_stage="lead")  # a user, in the CRM
    for _ in range(2):  # the webhook, then its replay
        with session_scope(env["DATABASE_URL"]) as s:
            process_records(s, tenant_id, crm, "contact", [crm.records[("contact", "c1")]], gone=[])
    assert crm.records[("contact", "c1")].fields["lifecycle_stage"] == "customer"
    assert decisions(env)[-1] == ("c1", "restored", "Refused a move back from customer to lead (lifecycle is "
                                                    "forward-only); customer restored")
    assert len(decisions(env)) == 2 and moved_back.updated_at is not None


# stale-lead reactivation ------------------------------------------------------------------------------------
def _routed(env, tenant_id: int, lead_id: str, owner: str, at: dt.datetime) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:{lead_id}", kind="route",
                       object_type="contact", object_id=lead_id, outcome=owner, reason="Rule 'Everyone'",
                       inputs={}, created_at=at))


def test_an_idle_lead_gets_one_reactivation_task_per_window(crm, env):
    tenant_id = _tenant(env, crm)
    old = NOW - dt.timedelta(days=20)
    crm.put("contact", "c1", updated_at=old, email="idle@x.test", first_name="Ida", owner_id="u1")
    crm.put("contact", "c2", updated_at=NOW - dt.timedelta(days=2), email="busy@x.test", owner_id="u1")
    _routed(env, tenant_id, "c1", ANA, old)
    _routed(env, tenant_id, "c2", ANA, old)
    assert reactivate_stale(tenant_id, NOW.isoformat()) == 1
    assert reactivate_stale(tenant_id, NOW.isoformat()) == 0  # the job retried
    assert [(t.owner_id, t.done) for t in crm.tasks.values()] == [("u1", False)]
    assert [(o, out) for o, out, _ in decisions(env, "reactivation")] == [("c1", "task")]
    assert decisions(env, "reactivation")[0][2] == f"Idle 20 days in stage lead (limit 14d); task for {ANA}"
    assert reactivate_stale(tenant_id, (NOW + dt.timedelta(days=9)).isoformat()) == 1  # 29 days: a new window
    assert len(crm.tasks) == 2


def test_an_idle_lead_whose_owner_left_is_rerouted_before_its_task(crm, env):
    tenant_id = _tenant(env, crm)
    crm.users[0] = CRMUser(id="u1", email=ANA, name="Ana", active=False)
    old = NOW - dt.timedelta(days=15)
    crm.put("contact", "c1", updated_at=old, email="idle@x.test", owner_id="u1")
    _routed(env, tenant_id, "c1", ANA, old)
    assert reactivate_stale(tenant_id, NOW.isoformat()) == 1
    assert crm.records[("contact", "c1")].owner_id == "u2"
    assert [t.owner_id for t in crm.tasks.values()] == ["u2"]
    assert "owner no longer active, re-routed" in decisions(env, "reactivation")[0][2]


def test_an_idle_lead_whose_owner_a_person_chose_is_not_rerouted_when_that_owner_left(crm, env):
    """LeadRelay routed it to Ana; a manager gave it to Cy by hand; Cy left: a human decides, nothing is re-routed."""
    tenant_id = _tenant(env, crm)
    crm.users.append(CRMUser(id="u3", email="cy@acme.test", name="Cy", active=False))
    old = NOW - dt.timedelta(days=15)
    crm.put("contact", "c1", updated_at=old, email="idle@x.test", owner_id="u3")
    _routed(env, tenant_id, "c1", ANA, old)
    assert reactivate_stale(tenant_id, NOW.isoformat()) == 1
    assert crm.records[("contact", "c1")].owner_id == "u3" and crm.calls["set_owner"] == 0
    assert crm.tasks == {}
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(ReviewItem.reason)).startswith("Stale lead: owner no longer active, and a person")


def test_a_dormant_lost_lead_is_queued_for_a_reactivation_cadence(crm, env):
    tenant_id = _tenant(env, crm)
    old = NOW - dt.timedelta(days=200)
    crm.put("contact", "c1", updated_at=old, email="gone@x.test", lead_status="UNQUALIFIED", owner_id="u2")
    crm.put("contact", "c2", updated_at=NOW - dt.timedelta(days=100), email="x@x.test", lead_status="UNQUALIFIED",
            owner_id="u2")
    _routed(env, tenant_id, "c1", BEN, old)
    _routed(env, tenant_id, "c2", BEN, old)
    assert reactivate_stale(tenant_id, NOW.isoformat()) == 1
    assert [(o, out) for o, out, _ in decisions(env, "reactivation")] == [("c1", "cadence")]


def test_nobody_to_take_an_orphaned_lead_goes_to_review(crm, env):
    tenant_id = _tenant(env, crm)
    crm.users = [CRMUser(id="u1", email=ANA, name="Ana", active=False),
                 CRMUser(id="u2", email=BEN, name="Ben", active=False)]
    old = NOW - dt.timedelta(days=15)
    crm.put("contact", "c1", updated_at=old, email="idle@x.test", owner_id="u1")
    _routed(env, tenant_id, "c1", ANA, old)
    reactivate_stale(tenant_id, NOW.isoformat())
    assert crm.tasks == {}
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(ReviewItem.reason)).startswith("Stale lead: owner no longer active")


def test_stage_matching():
    def rec(**fields):
        return Record(object_type="lead", id="1", fields=fields)

    assert stage_matches("lead", rec(lifecycle_stage="lead"))
    assert stage_matches("lead", rec(lead_status="Open - Not Contacted"))  # no stage field: a lead
    assert not stage_matches("lead", rec(lifecycle_stage="customer"))
    assert stage_matches("lost", rec(lead_status="Closed - Not Converted"))
    assert not stage_matches("lead", rec(lead_status="Closed - Not Converted"))
    assert stage_matches("salesqualifiedlead", rec(lifecycle_stage="salesqualifiedlead"))


def test_the_daily_job_is_planned_once_and_a_retried_run_creates_one_task(crm, env):
    tenant_id = _tenant(env, crm)
    conn = Redis.from_url(env["REDIS_URL"])
    schedule_reactivation(tenant_id)
    schedule_reactivation(tenant_id)
    assert Queue("sweep", connection=conn).scheduled_job_registry.count == 1
    old = NOW - dt.timedelta(days=20)
    crm.put("contact", "c1", updated_at=old, email="idle@x.test", owner_id="u1")
    _routed(env, tenant_id, "c1", ANA, old)
    for attempt in range(2):
        reactivate_stale.enqueue(tenant_id, NOW.isoformat(), job_id=f"stale-test-{attempt}")
        BurstWorker(["sweep"], connection=conn).work(burst=True)
    assert len(crm.tasks) == 1
