"""SLA tasks, checks, escalation and cadences against the in-memory FakeFollowUpCRM."""
from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.followup.business_hours import Calendar, add_business_time
from integration.followup.cadences import take_step
from integration.followup.escalation import escalate
from integration.followup.figures import sla_figures
from integration.followup.sla import check_sla, check_timer, open_timer
from integration.models import Decision, ReviewItem, RuleSetVersion, SlaTimer, Tenant
from integration.records import CRMUser
from integration.routing.redis_state import RedisPoolState
from integration.routing.state import InMemoryPoolState
from integration.rules import load_rules
from integration.rules.values import parse_hours, zone
from integration.work import Work
from tests.fakes import FakeFollowUpCRM

NY, BERLIN = zone("America/New_York"), zone("Europe/Berlin")
EMAILS = ["ana@acme.test", "ben@acme.test", "cy@acme.test"]
RULES = {
    "version": 1, "timezone": "America/New_York",
    "owners": [{"email": EMAILS[0], "country": "US", "hours": "Mon-Fri 09:00-17:00"}, {"email": EMAILS[1]},
               {"email": EMAILS[2]}, {"email": "max@acme.test", "manager": True}],
    "pools": {"team": {"strategy": "round_robin", "members": [{"owner": e} for e in EMAILS]}},
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "fallback": {"review": True},
    "sla": {"hot": {"first_touch": "5m", "escalate": [{"after": "5m", "action": "notify_manager"},
                                                      {"after": "15m", "action": "reassign"}]},
            "warm": {"first_touch": "4h", "business_hours": True}},
    "cadences": {"hot": [{"after": "1d", "task": "email"}, {"after": "3d", "task": "call"}]},
}
LEAD = {"id": "c1", "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example", "country": "US"}
REASON = "Rule 'Everyone' (has email) → pool team → ana@acme.test, round-robin, 1 open"


class Clock:
    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture()
def world(app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id=f"u{i + 1}", email=e, name=e.split("@")[0].title()) for i, e in
                  enumerate([*EMAILS, "max@acme.test"])]
    fake.put("contact", "c1", email=LEAD["email"], owner_id="u1", lifecycle_stage="lead")
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES))
        s.add(Decision(tenant_id=tenant.id, idempotency_key="route:contact:c1", kind="route", object_type="contact",
                       object_id="c1", outcome=EMAILS[0], reason=REASON,
                       inputs={"lead": LEAD, "tier": "hot", "owner_id": "u1", "rule": "Everyone", "score": 0}))
        tenant_id = tenant.id
    wire_adapters(lambda _tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as session:
        planned: list[tuple] = []
        clock = Clock()
        work = Work(session, tenant_id, fake, load_rules(RULES), lambda: fake.users, InMemoryPoolState(),
                    plan=lambda name, t, args, at, job_id: planned.append((name, args, at, job_id)), now=clock)
        yield SimpleNamespace(fake=fake, work=work, planned=planned, clock=clock, session=session,
                              tenant_id=tenant_id)


def route(world, tier: str = "hot") -> SlaTimer:
    return open_timer(world.work, "contact", "c1", world.fake.users[0], tier, LEAD, REASON)


def timers(world) -> list[SlaTimer]:
    return list(world.session.scalars(select(SlaTimer).order_by(SlaTimer.id)))


def outcomes(world, kind: str = "sla") -> list[str]:
    return list(world.session.scalars(select(Decision.outcome).where(Decision.kind == kind).order_by(Decision.id)))


# business hours -----------------------------------------------------------------------------------

def test_a_warm_lead_on_friday_evening_is_due_next_business_day_skipping_labor_day():
    friday_evening = dt.datetime(2026, 9, 4, 18, 0, tzinfo=NY)
    us = Calendar("America/New_York", country="US")
    assert add_business_time(friday_evening, dt.timedelta(hours=4), us) == dt.datetime(2026, 9, 8, 13, 0, tzinfo=NY)
    no_holidays = Calendar("America/New_York")
    assert add_business_time(friday_evening, dt.timedelta(hours=4), no_holidays) == dt.datetime(
        2026, 9, 7, 13, 0, tzinfo=NY)


def test_business_hours_follow_the_local_clock_across_dst():
    berlin = Calendar("Europe/Berlin")  # clocks go forward on Sunday 2026-03-29
    due = add_business_time(dt.datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN), dt.timedelta(hours=4), berlin)
    assert due == dt.datetime(2026, 3, 30, 12, 0, tzinfo=BERLIN)  # 1 h on Friday, 3 h on Monday
    assert due.astimezone(dt.UTC).hour == 10  # CEST: UTC+2 (it was UTC+1 on Friday)
    weekend = Calendar("America/New_York", hours=parse_hours("Sat-Sun 00:00-24:00"))  # 2026-03-08 has 23 hours
    due = add_business_time(dt.datetime(2026, 3, 7, 12, 0, tzinfo=NY), dt.timedelta(hours=24), weekend)
    assert due == dt.datetime(2026, 3, 8, 13, 0, tzinfo=NY)


def test_a_warm_lead_uses_the_owners_hours_and_holidays(world):
    world.clock.at = dt.datetime(2026, 9, 4, 18, 0, tzinfo=NY).astimezone(dt.UTC)
    timer = route(world, "warm")
    assert timer.due_at == dt.datetime(2026, 9, 8, 13, 0, tzinfo=NY)
    assert world.fake.specs[timer.task_id].kind == "email"


# task on routing ------------------------------------------------------------------------------------

def test_a_hot_lead_gets_one_call_task_due_in_five_minutes_written_for_the_rep(world):
    timer = route(world)
    assert route(world) is None  # a replay: nothing new
    spec = world.fake.specs[timer.task_id]
    assert (spec.kind, spec.owner_id, spec.due_at) == ("call", "u1", world.clock() + dt.timedelta(minutes=5))
    due = timer.due_at.astimezone(NY)
    assert spec.subject == "Call Grace Hopper: new hot lead"
    assert spec.body.splitlines()[0] == (f"Call Grace Hopper by {due:%a} {due.day} {due:%b %Y, %H:%M} "
                                         f"(America/New_York): a hot lead, first touch within 5 minutes.")
    assert ("You got this lead because it has an email address, and the rule “Everyone” shares those leads in "
            "turn within the team team: it was your turn.") in spec.body
    assert "Email: grace@navy.example" in spec.body and "Open the lead: https://crm.example/contact/c1" in spec.body
    assert "Who: Grace Hopper, company not given\n" in spec.body and "Where: United States\n" in spec.body
    assert "Possible duplicate" not in spec.body
    assert REASON not in spec.body and "ana@acme.test" not in spec.body  # the admin's words stay in the audit
    assert world.session.scalar(select(Decision.reason).where(Decision.kind == "route")) == REASON
    assert world.fake.calls["create_task"] == 1
    assert [p[0] for p in world.planned] == ["check_sla"]
    assert world.planned[0][2] == timer.due_at


def test_the_task_names_the_record_an_open_dedup_review_says_it_may_duplicate(world):
    world.session.add_all([
        ReviewItem(tenant_id=world.tenant_id, kind="dedup", object_type="contact", object_id="c1",
                   other_object_id="c0", reason="Possible duplicate of c0 (score 0.81: same phone; last name typo)",
                   payload={"score": 0.81, "reasons": ["same phone", "last name typo (Hopper/Hoper)"],
                            "other": {"name": "Grace Hoper"}}),
        ReviewItem(tenant_id=world.tenant_id, kind="dedup", object_type="contact", object_id="c1",
                   other_object_id="c9", reason="resolved: not a duplicate", status="resolved", payload={})])
    world.session.commit()
    spec = world.fake.specs[route(world).task_id]
    assert spec.body.split("\n\n")[-1] == (
        "Possible duplicate: Grace Hoper, 81% alike (same phone; last name typo (Hopper/Hoper)): "
        "https://crm.example/contact/c0\nCheck that record before you reach out; your admin decides whether to "
        "merge them.")


def test_on_routed_from_the_pipeline_creates_the_task_once(world, env):
    from integration.followup.routed import on_routed

    redis = Redis.from_url(env["REDIS_URL"])  # as the pipeline's Batch: the real planner, pools in Redis
    ctx = Work(world.session, world.tenant_id, world.fake, world.work.rules, lambda: world.fake.users,
               RedisPoolState(redis, world.tenant_id), redis=redis)
    record = world.fake.records[("contact", "c1")]
    decision = SimpleNamespace(inputs={"lead": LEAD})
    for _ in range(2):
        on_routed(ctx, record, world.fake.users[0], decision, "hot", REASON)
    assert world.fake.calls["create_tasks"] == 1 and len(world.fake.tasks) == 1
    assert [t.key for t in timers(world)] == ["sla:contact:c1:hot"]


# checks ---------------------------------------------------------------------------------------------

def test_a_completed_task_meets_the_sla_and_starts_the_cadence(world):
    timer = route(world)
    world.fake.complete_task(timer.task_id)
    world.clock.advance(minutes=5)
    assert check_timer(world.work, timer) == "met"
    assert timer.status == "met"
    assert outcomes(world) == ["task_created", "met"]
    assert outcomes(world, "cadence") == ["started"]
    assert [p[0] for p in world.planned] == ["check_sla", "run_cadence_step"]
    figures = sla_figures(world.session, world.tenant_id)
    assert (figures["sla_met"], figures["sla_breached"], figures["time_to_first_touch"]["leads"]) == (1, 0, 1)


def test_a_logged_call_meets_the_sla(world):
    timer = route(world)
    world.fake.log_activity("contact", "c1", world.clock() + dt.timedelta(minutes=2))
    world.clock.advance(minutes=5)
    assert check_timer(world.work, timer) == "met"


def test_a_moved_due_time_replans_the_check(world):
    timer = route(world)
    later = world.clock() + dt.timedelta(hours=1)
    world.fake.update_task(timer.task_id, due_at=later)
    world.clock.advance(minutes=5)
    assert check_timer(world.work, timer) == "replanned"
    assert (timer.status, timer.due_at) == ("pending", later)
    assert world.planned[-1][2] == later


def test_the_check_job_runs_once_and_ignores_a_stale_due_time(world):
    timer = route(world)
    world.fake.complete_task(timer.task_id)
    due = int(timer.due_at.timestamp())
    world.session.commit()
    assert check_sla(world.tenant_id, timer.id, due - 60) == "stale"  # planned for a due time that moved
    assert check_sla(world.tenant_id, timer.id, due) == "met"
    assert check_sla(world.tenant_id, timer.id, due) == "stale"  # a retried job changes nothing
    world.session.expire_all()
    assert outcomes(world) == ["task_created", "met"]


# breach and escalation --------------------------------------------------------------------------------

def breach(world, timer: SlaTimer) -> None:
    world.clock.advance(minutes=5)
    assert check_timer(world.work, timer) == "breached"


def test_a_breach_notifies_the_manager_then_reassigns_to_the_next_pool_member(world):
    timer = route(world)
    breach(world, timer)
    reason = world.session.scalar(select(Decision.reason).where(Decision.outcome == "breached"))
    assert reason.startswith("No first touch on the hot lead by ana@acme.test within 5m")
    assert world.planned[-1][:2] == ("escalate_sla", (timer.id, 0))
    assert world.planned[-1][2] == timer.due_at + dt.timedelta(minutes=5)

    world.clock.advance(minutes=5)
    assert escalate(world.work, timer, 0) == "notified"
    assert escalate(world.work, timer, 0) == "stale"  # the job again: nothing more
    assert world.fake.open_tasks("u4") and len(world.fake.open_tasks("u4")) == 1
    assert world.planned[-1][:2] == ("escalate_sla", (timer.id, 1))

    world.clock.advance(minutes=10)
    assert escalate(world.work, timer, 1) == "reassigned"
    assert world.fake.records[("contact", "c1")].owner_id == "u2"
    assert world.fake.tasks[timer.task_id].done and "Reassigned by LeadRelay to Ben" in world.fake.notes[timer.task_id]
    new = timers(world)[-1]
    assert (new.key, new.owner_id, new.status) == ("sla:contact:c1:hot:r1", "u2", "pending")
    assert world.fake.specs[new.task_id].owner_id == "u2"
    assert ("You got this lead because Ana had it first and did not reach them in time, so LeadRelay passed it on "
            "to the next person available: you.") in world.fake.specs[new.task_id].body
    assert escalate(world.work, timer, 1) == "stale"
    assert world.fake.calls["create_task"] == 3  # ana's task, max's, ben's
    figures = sla_figures(world.session, world.tenant_id)
    assert (figures["escalations"], figures["managers_notified"], figures["reassigned"]) == (2, 1, 1)


def _a_person_gives_the_lead_to(world, owner_id: str) -> None:
    """What a manager does in the CRM: the record's owner changes, not through LeadRelay."""
    record = world.fake.records[("contact", "c1")]
    world.fake.records[("contact", "c1")] = dataclasses.replace(record, owner_id=owner_id)


def test_a_lead_a_person_handed_over_is_not_escalated_at_its_due_time(world):
    timer = route(world)
    _a_person_gives_the_lead_to(world, "u3")
    world.clock.advance(minutes=5)
    assert check_timer(world.work, timer) == "handed_over"
    assert world.fake.records[("contact", "c1")].owner_id == "u3"  # the person's choice stands
    assert timer.status == "handed_over" and world.planned[-1][0] != "escalate_sla"
    assert "handed_over" in outcomes(world) and "breached" not in outcomes(world)


def test_a_breached_lead_a_person_handed_over_is_not_reassigned(world):
    timer = route(world)
    breach(world, timer)
    _a_person_gives_the_lead_to(world, "u3")
    world.clock.advance(minutes=15)
    assert escalate(world.work, timer, 0) == "handed_over"
    assert world.fake.records[("contact", "c1")].owner_id == "u3"
    assert escalate(world.work, timer, 1) == "stale"
    assert world.fake.calls["create_task"] == 1  # only the first owner's task: no manager task, no new owner


def test_a_lead_merged_away_after_a_breach_is_not_escalated(world):
    timer = route(world)
    breach(world, timer)
    del world.fake.records[("contact", "c1")]  # merged into its twin, or deleted, in the CRM
    world.clock.advance(minutes=5)
    assert escalate(world.work, timer, 0) == "gone"
    assert timer.status == "gone" and world.fake.calls["create_task"] == 1  # no manager task
    assert escalate(world.work, timer, 1) == "stale"


def _merged_into_a_new_id(world, new_id: str) -> None:
    """What HubSpot does on a merge: the lead lives on under a new id, and its old id answers that record."""
    merged = dataclasses.replace(world.fake.records[("contact", "c1")], id=new_id)
    world.fake.records[("contact", new_id)] = world.fake.records[("contact", "c1")] = merged


def test_a_lead_merged_into_a_new_id_takes_its_clock_along_and_is_checked_there(world):
    timer = route(world)
    _merged_into_a_new_id(world, "c9")
    world.fake.log_activity("contact", "c9", world.clock() + dt.timedelta(minutes=2))  # the rep called the merged one
    world.clock.advance(minutes=5)
    assert check_timer(world.work, timer) == "met"
    assert (timer.key, timer.object_id) == ("sla:contact:c9:hot", "c9")
    route_decision = world.session.scalar(select(Decision).where(Decision.idempotency_key == "route:contact:c9"))
    assert route_decision.object_id == "c9" and outcomes(world) == ["task_created", "met"]


def test_a_breached_lead_merged_into_a_new_id_is_escalated_there(world):
    timer = route(world)
    breach(world, timer)
    _merged_into_a_new_id(world, "c9")
    world.clock.advance(minutes=5)
    assert escalate(world.work, timer, 0) == "notified"
    [manager_task] = world.fake.open_tasks("u4")
    assert (timer.object_id, world.fake.specs[manager_task].record_id) == ("c9", "c9")


def test_a_late_touch_ends_the_chain(world):
    timer = route(world)
    breach(world, timer)
    world.fake.complete_task(timer.task_id)
    assert escalate(world.work, timer, 0) == "met_late"
    assert world.fake.open_tasks("u4") == []


def test_a_lead_reassigned_twice_goes_to_review(world):
    timer = route(world)
    for expected_owner in ("u2", "u3"):
        breach(world, timer)
        escalate(world.work, timer, 0)
        assert escalate(world.work, timer, 1) == "reassigned"
        timer = timers(world)[-1]
        assert timer.owner_id == expected_owner
    breach(world, timer)
    escalate(world.work, timer, 0)
    assert escalate(world.work, timer, 1) == "review"
    assert world.fake.records[("contact", "c1")].owner_id == "u3"
    item = world.session.scalar(select(ReviewItem))
    assert (item.kind, item.object_id) == ("sla", "c1") and "after 2 reassignments" in item.reason
    assert sla_figures(world.session, world.tenant_id)["sent_to_review"] == 1


# cadences ---------------------------------------------------------------------------------------------

def met_with_cadence(world) -> SlaTimer:
    timer = route(world)
    world.fake.complete_task(timer.task_id)
    world.clock.advance(minutes=5)
    check_timer(world.work, timer)
    return timers(world)[-1]


def test_a_cadence_creates_its_steps_one_at_a_time_and_ends(world):
    step = met_with_cadence(world)
    assert (step.key, step.status) == ("cadence:contact:c1:hot:0", "planned")
    world.clock.advance(days=1)
    assert take_step(world.work, step) == "created"
    assert take_step(world.work, step) == "stale"  # the job again
    second = timers(world)[-1]
    assert (second.key, second.status) == ("cadence:contact:c1:hot:1", "planned")
    world.clock.advance(days=2)
    assert take_step(world.work, second) == "created"
    assert outcomes(world, "cadence") == ["started", "ended"]
    assert sla_figures(world.session, world.tenant_id)["cadence_steps_done"] == 2


def test_a_cadence_pauses_when_the_lead_replies(world):
    step = met_with_cadence(world)
    world.clock.advance(days=1)
    take_step(world.work, step)
    world.fake.log_activity("contact", "c1", world.clock() + dt.timedelta(hours=1))  # an email reply
    second = timers(world)[-1]
    world.clock.advance(days=2)
    assert take_step(world.work, second) == "paused"
    assert second.status == "cancelled"
    assert world.fake.calls["create_task"] == 2  # the SLA task and step 1 only
    assert [t.status for t in timers(world) if t.policy.startswith("cadence")] == ["created", "cancelled"]
    assert sla_figures(world.session, world.tenant_id)["cadences_paused"] == 1


def test_a_cadence_stops_when_the_stage_moves(world):
    step = met_with_cadence(world)
    world.fake.set_fields("contact", "c1", {"lifecycle_stage": "opportunity"})
    assert take_step(world.work, step) == "paused"
    assert "stage moved" in world.session.scalar(select(Decision.reason).where(Decision.outcome == "paused"))


def test_the_sla_bench_checks_every_timer(env):
    from leadrelay.bench_sla import bench_sla_checks

    figures = bench_sla_checks(20)
    assert (figures["checks"], figures["outcomes"]) == (20, {"met": 10, "breached": 10})
    assert figures["checks_per_second"] > 0


def test_a_task_the_crm_refused_during_routing_is_created_by_a_retry_job(world, env):
    from rq import Queue

    from integration.followup.routed import on_routed
    from integration.followup.sla import open_sla_task

    redis = Redis.from_url(env["REDIS_URL"])  # as the pipeline's Batch: the real planner, pools in Redis
    ctx = Work(world.session, world.tenant_id, world.fake, world.work.rules, lambda: world.fake.users,
               RedisPoolState(redis, world.tenant_id), redis=redis)
    world.fake.rate_limited_calls = 1  # the create_tasks call answers 429
    on_routed(ctx, world.fake.records[("contact", "c1")], world.fake.users[0], SimpleNamespace(inputs={"lead": LEAD}),
              "hot", REASON)
    assert timers(world) == [] and world.fake.tasks == {}
    scheduled = Queue("sla", connection=Redis.from_url(env["REDIS_URL"])).scheduled_job_registry.get_job_ids()
    assert [j for j in scheduled if j.startswith("sla-open")]
    assert open_sla_task(world.tenant_id, "contact", "c1") == "created"
    assert open_sla_task(world.tenant_id, "contact", "c1") == "exists"
    # the refused batch call, then one task from the retry job
    assert (world.fake.calls["create_tasks"], world.fake.calls["create_task"], len(world.fake.tasks)) == (1, 1, 1)


# the accelerated clock (LEADRELAY_TIME_SCALE, the demo's ×60) ----------------------------------------

def test_on_a_demo_clock_a_hot_lead_is_due_in_seconds_and_its_task_says_so(world, monkeypatch):
    monkeypatch.setenv("LEADRELAY_TIME_SCALE", "60")
    timer = route(world)
    assert timer.due_at == world.clock() + dt.timedelta(seconds=5)  # 5m / 60
    assert timer.created_at == world.clock()  # "now" stays real: only durations shrink
    due = timer.due_at.astimezone(NY)
    assert world.fake.specs[timer.task_id].body.splitlines()[0] == (
        f"Call Grace Hopper by {due:%a} {due.day} {due:%b %Y}, {due:%H:%M:%S} (America/New_York): a hot lead, first "
        f"touch within 5 minutes (demo clock ×60: 5 minutes pass in 5 seconds).")
    assert world.planned[-1][:3] == ("check_sla", (timer.id, int(timer.due_at.timestamp())), timer.due_at)


def test_on_a_demo_clock_the_escalation_steps_and_cadence_steps_come_sixty_times_sooner(world, monkeypatch):
    monkeypatch.setenv("LEADRELAY_TIME_SCALE", "60")
    timer = route(world)
    world.clock.advance(seconds=5)
    assert check_timer(world.work, timer) == "breached"
    assert world.planned[-1][:3] == ("escalate_sla", (timer.id, 0), timer.due_at + dt.timedelta(seconds=5))
    world.clock.advance(seconds=5)
    assert escalate(world.work, timer, 0) == "notified"
    assert world.planned[-1][:3] == ("escalate_sla", (timer.id, 1), timer.due_at + dt.timedelta(seconds=15))
    world.clock.advance(seconds=10)
    assert escalate(world.work, timer, 1) == "reassigned"
    new = timers(world)[-1]
    assert new.due_at - new.created_at == dt.timedelta(seconds=5)  # the new owner's clock runs as fast
    world.fake.log_activity("contact", "c1", new.created_at + dt.timedelta(seconds=2))  # a real moment, as a CRM keeps
    world.clock.advance(seconds=6)
    assert check_timer(world.work, new) == "met"
    step = timers(world)[-1]
    assert step.key == "cadence:contact:c1:hot:0"
    # 1d / 60 after the first touch (counted from the next whole second: integration.followup.common.next_second)
    assert dt.timedelta(minutes=24) < step.due_at - world.clock() <= dt.timedelta(minutes=24, seconds=1)


def test_a_business_hours_duration_on_a_demo_clock_counts_working_minutes(world, monkeypatch):
    monkeypatch.setenv("LEADRELAY_TIME_SCALE", "60")
    world.clock.at = dt.datetime(2026, 9, 4, 18, 0, tzinfo=NY).astimezone(dt.UTC)  # Friday evening, Labor Day next
    timer = route(world, "warm")
    assert timer.due_at == dt.datetime(2026, 9, 8, 9, 4, tzinfo=NY)  # 4h / 60: four working minutes on Tuesday


@pytest.mark.parametrize("value", ["0", "-60", "fast", "nan", "inf"])
def test_a_time_scale_that_is_not_a_positive_number_is_refused_with_its_name(monkeypatch, value):
    from integration.config import ConfigError, Settings

    monkeypatch.setenv("LEADRELAY_TIME_SCALE", value)
    with pytest.raises(ConfigError, match="LEADRELAY_TIME_SCALE must be a positive number"):
        Settings.from_env()


def test_the_clock_runs_in_real_time_unless_told_otherwise(world, monkeypatch):
    monkeypatch.delenv("LEADRELAY_TIME_SCALE", raising=False)
    assert route(world).due_at == world.clock() + dt.timedelta(minutes=5)
    monkeypatch.setenv("LEADRELAY_TIME_SCALE", "1")
    from integration.config import Settings

    assert Settings.from_env().time_scale == 1.0
