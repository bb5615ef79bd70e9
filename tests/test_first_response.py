"""First response: the acknowledgment job against the in-memory FakeFollowUpCRM, a recording sender, real Redis and
the test database (README "First response")."""
from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.errors import CRMTransient
from integration.followup.routed import on_routed_many
from integration.models import AutomationHold, Decision, IntakeSubmission, OutboundMessage, RuleSetVersion, Tenant
from integration.outreach import hooks
from integration.outreach.firstresponse import send_first_response
from integration.outreach.senders import (
    Accepted,
    Outgoing,
    SenderNotConfigured,
    SendFailed,
    SendRefused,
    set_sender_factory,
)
from integration.pipeline.flow import process_records
from integration.queues import INTAKE, get_queue, redis_connection
from integration.records import CRMUser
from integration.rules.values import zone
from integration.work import work_for
from tests.fakes import FakeFollowUpCRM
from tests.workers import BurstWorker

RULES = {
    "version": 1, "timezone": "America/New_York",
    "owners": [{"email": "ana@acme.test", "booking_link": "https://cal.example/ana"}],
    "pools": {"team": {"strategy": "round_robin", "members": [{"owner": "ana@acme.test"}]}},
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "fallback": {"review": True},
    "sla": {"hot": {"first_touch": "5m"}, "warm": {"first_touch": "4h"}},
    "first_response": {
        "hot": {"channels": ["email", "sms"], "template": "ack", "consent": "any"},
        "warm": {"channels": ["email"], "template": "ack", "consent": "given"},
        "basis": "legitimate interest", "quiet_hours": "21:00-08:00", "daily_cap": 5,
        "templates": {"ack": {
            "en": {"subject": "Thanks for your request, {first_name}",
                   "body": "Hi {first_name},\n{owner_name} from {tenant_name} will be in touch.\n{booking_link}",
                   "sms": "Hi {first_name}, thanks! {owner_first_name} from {tenant_name} will call you."},
            "de": {"subject": "Danke für Ihre Anfrage, {first_name}",
                   "body": "Hallo {first_name},\n{owner_name} meldet sich.",
                   "sms": "Hallo {first_name}, danke! {owner_first_name} ruft Sie an."}}},
    },
}
MOBILE = "+12025550143"  # a US number: FIXED_LINE_OR_MOBILE, so it can receive texts
NOON_NY = dt.datetime(2026, 12, 3, 12, 0, tzinfo=zone("America/New_York"))


class RecordingSender:
    """A Sender that keeps what it was handed; `fail` answers SendFailed that many times, `refuse` SendRefused."""

    CHANNEL: ClassVar[str] = "email"
    DAILY_LIMIT: ClassVar[int | None] = None

    def __init__(self, channel: str, clock) -> None:
        self.channel, self.clock = channel, clock
        self.sent: list[Outgoing] = []
        self.fail = 0
        self.retry_after: float | None = None  # what a failure asks the retry to wait
        self.refuse: SendRefused | None = None
        self._ids = itertools.count(1)

    def send(self, message: Outgoing) -> Accepted:
        if self.refuse is not None:
            raise self.refuse
        if self.fail:
            self.fail -= 1
            raise SendFailed("421 try again later", retry_after=self.retry_after)
        self.sent.append(message)
        return Accepted(provider_id=f"<{message.key}@test>", accepted_at=self.clock(),
                        sender="ana@acme.test" if self.channel == "email" else "+15005550006")


class TaskBodies(FakeFollowUpCRM):
    """The fake, keeping the bodies update_task wrote (the base fake drops them), with a CRM outage on logging."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: dict[str, str] = {}
        self.log_outages = 0  # how many upcoming log_message calls answer a 503

    def update_task(self, task_id: str, **changes: Any) -> None:
        super().update_task(task_id, **changes)
        if changes.get("body") is not None:
            self.bodies[task_id] = changes["body"]

    def log_message(self, object_type: str, record_id: str, message: Any) -> str:
        if self.log_outages:
            self.log_outages -= 1
            raise CRMTransient("503 Service Unavailable")
        return super().log_message(object_type, record_id, message)


@pytest.fixture()
def world(app, env, wire_adapters, monkeypatch):
    now = SimpleNamespace(at=NOON_NY.astimezone(dt.UTC))
    monkeypatch.setattr("integration.work.clock", lambda: now.at)  # the documented seam for a chosen moment
    fake = TaskBodies()
    fake.users = [CRMUser(id="u1", email="ana@acme.test", name="Ana Lopez")]
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id="A", name="Acme")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES))
        tenant_id = tenant.id
    wire_adapters(lambda _tenant_id: fake)
    senders = {c: RecordingSender(c, lambda: now.at) for c in ("email", "sms")}
    replaced = set_sender_factory(lambda _tenant_id, channel: senders[channel])
    yield SimpleNamespace(fake=fake, tenant_id=tenant_id, senders=senders, now=now, db=env["DATABASE_URL"])
    set_sender_factory(replaced)


def lead(world, tier: str = "hot", object_id: str = "c1", created: dt.datetime | None = None, **fields: Any):
    """A routed lead: the record in the fake CRM and its route decision, as the pipeline leaves them."""
    values = {"email": "grace@navy.example", "first_name": "Grace", "last_name": "Hopper", "mobile": MOBILE,
              "source": "web_form", **fields}
    record = world.fake.put("contact", object_id, updated_at=created or world.now.at, owner_id="u1",
                            **{k: v for k, v in values.items() if v is not None})
    with session_scope(world.db) as s:
        s.add(Decision(tenant_id=world.tenant_id, idempotency_key=f"route:contact:{object_id}", kind="route",
                       object_type="contact", object_id=object_id, outcome="ana@acme.test", reason="Rule 'Everyone'",
                       inputs={"lead": {"id": object_id, **{k: v for k, v in values.items() if v is not None}},
                               "tier": tier, "owner_id": "u1", "rule": "Everyone", "score": 70}))
    return record


def open_task(world, record, tier: str = "hot") -> str:
    """The SLA task the pipeline opens before first response runs."""
    with session_scope(world.db) as s:
        work = work_for(s, world.tenant_id, world.fake)
        decision = s.scalar(select(Decision).where(Decision.idempotency_key == f"route:contact:{record.id}"))
        on_routed_many(work, [(record, world.fake.users[0], decision, tier, decision.reason)])
    return next(iter(world.fake.tasks))


def run(world, object_id: str = "c1") -> str:
    return send_first_response(world.tenant_id, "contact", object_id)


def rows(world) -> list[OutboundMessage]:
    with session_scope(world.db) as s:
        found = list(s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
        s.expunge_all()
    return found


# sending -------------------------------------------------------------------------------------------------

def test_a_hot_lead_gets_email_and_sms_logged_on_the_record_and_told_in_the_task(world):
    record = lead(world)
    task_id = open_task(world, record)
    assert run(world) == "sent,sent"
    email, = world.senders["email"].sent
    assert email.to == "grace@navy.example" and email.reply_to == "ana@acme.test"
    assert email.subject == "Thanks for your request, Grace"
    assert email.body == "Hi Grace,\nAna Lopez from Acme will be in touch.\nhttps://cal.example/ana"
    assert email.key == "ack:contact:c1:email"
    sms, = world.senders["sms"].sent
    assert (sms.to, sms.body, sms.reply_to) == (MOBILE, "Hi Grace, thanks! Ana from Acme will call you.", None)
    logged = sorted((m.channel, m.direction, m.subject, r) for _t, r, m in world.fake.logged.values())
    assert logged == [("email", "outbound", "Thanks for your request, Grace", "c1"),
                      ("sms", "outbound", "Hi Grace, thanks! Ana from Acme will call", "c1")]  # first words
    sent = rows(world)
    assert [(r.status, r.sender, r.source, r.crm_log_id is not None) for r in sent] == [
        ("sent", "smtp", "web_form", True), ("sent", "sms", "web_form", True)]
    body = world.fake.bodies[task_id]
    assert body.startswith(world.fake.specs[task_id].body)  # the original text, then what the lead received
    assert body.endswith("Already sent to the lead by LeadRelay at 12:00:00: email “Thanks for your request, Grace” "
                         "(acknowledgment; the lead's reply comes to you)\nAlready sent to the lead by LeadRelay at "
                         "12:00:00: SMS “Hi Grace, thanks! Ana from Acme will call you.” (acknowledgment)")
    with session_scope(world.db) as s:
        audit = s.scalars(select(Decision.outcome).where(Decision.kind == "first_response")).all()
    assert sorted(audit) == ["sent", "sent"]


def test_a_task_created_after_the_send_says_it_from_the_start(world):
    record = lead(world)
    assert run(world) == "sent,sent"
    task_id = open_task(world, record)
    assert "Already sent to the lead by LeadRelay at 12:00:00: email" in world.fake.specs[task_id].body
    assert world.fake.bodies == {}


def test_a_replayed_job_sends_nothing_twice(world):
    record = lead(world)
    task_id = open_task(world, record)
    run(world)
    calls = dict(world.fake.calls)
    assert run(world) == "sent,sent"
    assert len(world.senders["email"].sent) == 1 and len(world.senders["sms"].sent) == 1
    assert len(world.fake.logged) == 2 and world.fake.calls["update_task"] == calls["update_task"]
    assert task_id in world.fake.bodies


def test_a_send_that_fails_for_now_is_retried_and_sent_once(world):
    lead(world)
    world.senders["email"].fail = 1
    with pytest.raises(SendFailed):
        run(world)
    assert [r.status for r in rows(world)] == ["sending"]  # claimed before the send: the retry finds it
    assert run(world) == "sent,sent"
    assert len(world.senders["email"].sent) == 1 and rows(world)[0].key == "ack:contact:c1:email"


def test_a_retry_checks_the_opt_out_again_before_it_resends(world):
    lead(world)
    world.senders["email"].fail = 1
    with pytest.raises(SendFailed):
        run(world)
    world.fake.records[("contact", "c1")].fields["email_opt_out"] = True  # unsubscribed between the attempts
    assert run(world) == "skipped:opted_out,sent"
    assert world.senders["email"].sent == [] and [m.to for m in world.senders["sms"].sent] == [MOBILE]
    assert [(r.channel, r.status, r.reason) for r in rows(world)] == [("email", "skipped", "opted_out"),
                                                                       ("sms", "sent", None)]


def test_a_retry_checks_holds_again_before_it_resends(world):
    lead(world)
    world.senders["sms"].fail = 1
    with pytest.raises(SendFailed):
        run(world)
    with session_scope(world.db) as s:
        s.add(AutomationHold(tenant_id=world.tenant_id, object_type="contact", object_id="c1", kind="stop",
                             reason="the rep said stop", rule=None))
    assert run(world) == "sent,skipped:automation_hold"
    assert world.senders["sms"].sent == [] and len(world.senders["email"].sent) == 1


@pytest.mark.parametrize("retry_after", [None, 600])
def test_a_retried_job_waits_at_least_the_providers_retry_after(world, retry_after):
    lead(world)
    world.senders["email"].fail = 1
    world.senders["email"].retry_after = retry_after
    redis = redis_connection(get_settings())
    job = send_first_response.enqueue(world.tenant_id, "contact", "c1", job_id="ack-retry-after")
    backoff = list(job.retry_intervals)
    BurstWorker([INTAKE], connection=redis).work(burst=True)
    job.refresh()
    assert job.get_status() == "scheduled" and job.retries_left == len(backoff) - 1
    expected = [max(backoff[0], retry_after or 0), *backoff[1:]]
    assert job.retry_intervals == expected
    # the scheduler's score is when the retry may run: at least retry_after after the failure, not the backoff
    score = get_queue(INTAKE, redis).scheduled_job_registry.get_scheduled_time(job)
    assert (score - job.ended_at.replace(tzinfo=dt.UTC)).total_seconds() >= expected[0] - 1


def test_a_crm_outage_while_logging_retries_without_sending_again(world):
    lead(world, tier="warm")
    world.fake.log_outages = 1
    with session_scope(world.db) as s:
        s.add(IntakeSubmission(tenant_id=world.tenant_id, public_id="s1", fields={"consent": "yes"},
                               record_id="c1", object_type="contact"))
    with pytest.raises(CRMTransient):
        run(world)
    assert run(world) == "sent"
    assert len(world.senders["email"].sent) == 1 and len(world.fake.logged) == 1


def test_a_refusal_is_failed_for_good_and_the_providers_stop_is_an_opt_out(world):
    lead(world)
    world.senders["email"].refuse = SendRefused("invalid_recipient", "550 no such user")
    world.senders["sms"].refuse = SendRefused("opted_out", "21610 unsubscribed recipient")
    assert run(world) == "failed:invalid_recipient,skipped:opted_out"
    assert run(world) == "failed:invalid_recipient,skipped:opted_out"
    assert world.fake.logged == {}


def test_email_goes_through_the_crm_when_the_rules_say_so_and_is_not_logged_again(world):
    rules = {**RULES, "sla": {**RULES["sla"], "nurture": {"first_touch": "2d"}},
             "first_response": {**RULES["first_response"], "sender": "crm"}}
    with session_scope(world.db) as s:
        s.scalar(select(RuleSetVersion).where(RuleSetVersion.tenant_id == world.tenant_id)).body = rules
    world.fake.EMAIL_SENDER = "email_action"
    lead(world)
    assert run(world) == "sent,sent"
    assert world.senders["email"].sent == []
    (_t, _r, message), = world.fake.sent_by_crm.values()
    assert message.subject == "Thanks for your request, Grace" and message.owner_id == "u1"
    assert [m.channel for _t, _r, m in world.fake.logged.values()] == ["sms"]


def test_the_leads_language_picks_the_template_and_an_unknown_one_falls_back(world):
    lead(world, object_id="c1", language="de-AT", mobile=None)
    lead(world, object_id="c2", language="pt", mobile=None, email="ze@example.pt")
    run(world, "c1")
    run(world, "c2")
    assert [m.subject for m in world.senders["email"].sent] == ["Danke für Ihre Anfrage, Grace",
                                                                "Thanks for your request, Grace"]
    assert [r.language for r in rows(world) if r.status == "sent"] == ["de", "en"]


# skips ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["skip_automation", "stop", "do_not_contact"])
def test_a_hold_skips_every_channel(world, kind):
    lead(world)
    with session_scope(world.db) as s:
        s.add(AutomationHold(tenant_id=world.tenant_id, object_type="contact", object_id="c1", kind=kind,
                             reason="a referral", rule="Referrals"))
    assert run(world) == "skipped:automation_hold,skipped:automation_hold"
    assert world.senders["email"].sent == [] and "Referrals" in rows(world)[0].detail


def test_opt_outs_in_the_crm_skip_their_channel(world):
    lead(world, email_opt_out=True, do_not_call=True)
    assert run(world) == "skipped:opted_out,skipped:opted_out"


def test_consent_given_needs_the_intakes_consent(world):
    lead(world, tier="warm", object_id="c1")
    lead(world, tier="warm", object_id="c2", email="b@example.com")
    with session_scope(world.db) as s:
        s.add(IntakeSubmission(tenant_id=world.tenant_id, public_id="s1", fields={"consent": True}, record_id="c2",
                               object_type="contact"))
    assert run(world, "c1") == "skipped:no_consent"  # from a CRM webhook: nothing recorded
    assert run(world, "c2") == "sent"


def test_no_address_when_there_is_no_email_or_no_mobile(world):
    lead(world, email=None, mobile=None, phone="+442079460000")  # a London landline can't receive texts
    assert run(world) == "skipped:no_address,skipped:no_address"


def test_quiet_hours_cross_midnight_in_the_leads_zone(world):
    # 06:30 UTC: 07:30 in Berlin (quiet until 08:00), 22:30 the evening before in Los Angeles (quiet from 21:00),
    # 01:30 in New York (the rule set's zone, for a lead enrichment found no zone for)
    world.now.at = dt.datetime(2026, 12, 4, 6, 30, tzinfo=dt.UTC)
    lead(world, object_id="c1", leadrelay_timezone="Europe/Berlin")
    lead(world, object_id="c2", leadrelay_timezone="America/Los_Angeles")
    lead(world, object_id="c3")
    lead(world, object_id="c4", leadrelay_timezone="Asia/Tokyo")  # 15:30 there
    assert [run(world, c) for c in ("c1", "c2", "c3", "c4")] == ["sent,skipped:quiet_hours"] * 3 + ["sent,sent"]
    assert "07:30 for the lead (Europe/Berlin)" in rows(world)[1].detail


def test_a_record_created_long_ago_is_too_late(world):
    lead(world, created=world.now.at - dt.timedelta(minutes=31))
    assert run(world) == "skipped:too_late,skipped:too_late"


def test_no_sender_for_a_channel(world):
    lead(world)
    def only_email(_tenant_id, channel):
        if channel == "sms":
            raise SenderNotConfigured("enter the SMS provider's account SID and token")
        return world.senders["email"]

    set_sender_factory(only_email)
    assert run(world) == "sent,skipped:no_sender"


def test_the_daily_cap_holds_across_workers_and_resets_the_next_utc_day(world):
    for i in range(5):
        lead(world, object_id=f"c{i}", mobile=None)
    lead(world, object_id="c9")
    # two worker processes share the count through Redis: each run is a job on its own
    assert [run(world, f"c{i}") for i in range(5)] == ["sent,skipped:no_address"] * 5
    assert run(world, "c9") == "skipped:daily_cap,skipped:daily_cap"
    world.now.at += dt.timedelta(days=1)
    lead(world, object_id="c10")
    assert run(world, "c10") == "sent,sent"


def test_a_senders_own_daily_limit_is_a_lower_cap(world):
    world.senders["email"].DAILY_LIMIT = 1
    lead(world, object_id="c1", mobile=None)
    lead(world, object_id="c2", mobile=None)
    assert [run(world, c) for c in ("c1", "c2")] == ["sent,skipped:no_address", "skipped:daily_cap,skipped:no_address"]


# planning ------------------------------------------------------------------------------------------------

def test_the_hook_enqueues_one_job_per_lead_whose_tier_has_a_policy(world):
    hot, nurture = lead(world, object_id="c1"), lead(world, tier="nurture", object_id="c2")
    queue = get_queue(INTAKE, redis_connection(get_settings()))
    with session_scope(world.db) as s:
        work = work_for(s, world.tenant_id, world.fake)
        decisions = {d.object_id: d for d in s.scalars(select(Decision).where(Decision.kind == "route"))}
        written = [(hot, world.fake.users[0], decisions["c1"]), (nurture, world.fake.users[0], decisions["c2"])]
        hooks.on_owners_written(work, written)
        hooks.on_owners_written(work, written)  # a replayed write: the pending job is reused
    assert queue.job_ids == [f"ack-{world.tenant_id}-contact-c1"]


def _take(redis_url: str, tenant_id: int, tries: int, out) -> None:
    """One worker process counting messages against the shared cap."""
    from redis import Redis

    from integration.outreach.firstresponse import take_from_cap
    work = SimpleNamespace(redis=Redis.from_url(redis_url), tenant_id=tenant_id,
                           now=lambda: dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC))
    out.put(sum(take_from_cap(work, 60) for _ in range(tries)))


def test_the_cap_is_atomic_across_worker_processes(redis_url):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_take, args=(redis_url, 7, 50, out)) for _ in range(2)]
    for w in workers:
        w.start()
    granted = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert sum(granted) == 60  # 100 tries, 60 allowed: no worker saw another's count late


def test_a_second_run_while_one_holds_the_lead_sends_nothing(world):
    lead(world)
    redis = redis_connection(get_settings())
    held = redis.lock(f"leadrelay:outreach:ack:{world.tenant_id}:contact:c1", timeout=30)
    assert held.acquire(blocking=False)
    assert run(world) == "busy" and world.senders["email"].sent == [] and rows(world) == []
    held.release()
    assert run(world) == "sent,sent"


def test_a_lead_routed_by_the_pipeline_gets_its_acknowledgment_from_the_worker(world):
    rules = {**RULES, "sla": {**RULES["sla"], "nurture": {"first_touch": "2d"}},
             "first_response": {**RULES["first_response"],
                                "nurture": {"channels": ["email"], "template": "ack", "consent": "any"}}}
    with session_scope(world.db) as s:
        s.scalar(select(RuleSetVersion).where(RuleSetVersion.tenant_id == world.tenant_id)).body = rules
    record = world.fake.put("contact", "c1", updated_at=world.now.at, email="grace@navy.example", first_name="Grace")
    with session_scope(world.db) as s:  # what the drain does with a batch (no scoring rules: a nurture lead)
        process_records(s, world.tenant_id, world.fake, "contact", [record], gone=[])
    task_id, = world.fake.tasks
    BurstWorker([INTAKE], connection=redis_connection(get_settings())).work(burst=True)
    assert [m.subject for m in world.senders["email"].sent] == ["Thanks for your request, Grace"]
    assert [m.channel for _t, _r, m in world.fake.logged.values()] == ["email"]
    assert "Already sent to the lead by LeadRelay at 12:00:00: email" in world.fake.bodies[task_id]
