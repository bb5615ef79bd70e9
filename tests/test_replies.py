"""Replies read from the CRM: paged from the saved cursor, stored once, matched to a lead (by the CRM's link or the
sender through the dedup index), put through the reply rules once; the next read planned for tenants with rules."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select

from integration.db import session_scope
from integration.dedup.index import index_record
from integration.errors import CRMRateLimited
from integration.models import Decision, InboundMessageRow, RuleSetVersion, SweepCursor, Tenant
from integration.outreach.replies import read_inbound, receive_inbound
from integration.records import CRMUser, InboundMessage
from tests.fakes import FakeFollowUpCRM
from tests.test_handoff import RULES
from tests.workers import BurstWorker

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def message(n: int, text: str, record_id: str = "", sender: str = "someone@else.example") -> InboundMessage:
    return InboundMessage(id=f"m{n}", channel="email", object_type="contact" if record_id else "",
                          record_id=record_id, sender=sender, subject="Re: your request", text=text,
                          received_at=NOW + dt.timedelta(seconds=n))


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request, env, monkeypatch):
    """Each test on SQLite and on PostgreSQL (where a lost unique-key race raises at commit, not at flush)."""
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])
    return env["DATABASE_URL"]


@pytest.fixture()
def tenant(storage, app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id="u1", email="ana@acme.test", name="Ana")]
    c1 = fake.put("contact", "c1", email="grace@navy.example", owner_id="u1")
    c2 = fake.put("contact", "c2", email="Linus.T@gmail.com", phone="+1 (415) 555-0100", owner_id="u1")
    with session_scope(env["DATABASE_URL"]) as s:
        row = Tenant(platform="fake", external_id="A", name="A")
        s.add(row)
        s.flush()
        s.add(RuleSetVersion(tenant_id=row.id, version=1, status="published", body=RULES))
        index_record(s, row.id, c1)
        index_record(s, row.id, c2)
        fake.tenant_id = row.id
    wire_adapters(lambda _tenant_id: fake)
    return fake


def rows(env) -> list[tuple[str, str, dict]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(r.key, r.object_id, r.outcome) for r in s.scalars(select(InboundMessageRow).order_by(
            InboundMessageRow.id))]


def test_read_inbound_pages_from_the_cursor_matches_leads_and_runs_the_rules_once(tenant, env):
    tenant.inbound = [message(n, "Thanks, talk soon", "c1") for n in range(150)]
    tenant.inbound.append(message(150, "What is the pricing?", sender="linust@gmail.com"))  # the CRM linked none
    tenant.inbound.append(message(151, "unsubscribe"))  # nobody LeadRelay knows
    assert read_inbound(tenant.tenant_id) == 152
    assert tenant.calls["inbound_since"] == 2  # two pages of 100
    stored = rows(env)
    assert len(stored) == 152
    assert stored[150][:2] == ("email:m150", "c2")
    assert [r["rule"] for r in stored[150][2]["rules"]] == ["Pricing"]
    assert stored[150][2]["rules"][0]["actions"]["notify_owner"] == "task created"
    assert stored[151][2] == {"matched": False, "why": "no single lead has the sender 'someone@else.example'"}
    assert stored[0][2] == {"matched": True, "lead": "contact:c1", "rules": []}
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(SweepCursor.cursor).where(SweepCursor.object_type == "inbound")) == "152"

    assert read_inbound(tenant.tenant_id) == 0  # from the cursor: nothing new
    tenant.inbound.append(message(152, "STOP", "c1"))
    assert read_inbound(tenant.tenant_id) == 1
    assert tenant.do_not_contact == {("contact", "c1")}
    with session_scope(env["DATABASE_URL"]) as s:
        kinds = s.scalars(select(Decision.outcome).where(Decision.kind == "handoff").order_by(Decision.id)).all()
    assert kinds == ["notify_owner", "pause_cadence", "do_not_contact"]


def test_a_message_read_twice_is_stored_and_handled_once(tenant, env):
    tenant.inbound = [message(1, "How much does it cost?", "c1")]
    read_inbound(tenant.tenant_id)
    with session_scope(env["DATABASE_URL"]) as s:
        s.execute(SweepCursor.__table__.delete())  # the cursor lost: the CRM serves the same message again
    assert read_inbound(tenant.tenant_id) == 0
    assert len(rows(env)) == 1
    assert tenant.calls["create_task"] == 1


def test_the_next_read_is_planned_only_while_the_rules_have_reply_rules(tenant, env, redis_url):
    read_inbound(tenant.tenant_id)
    job = Job.fetch(f"inbound-{tenant.tenant_id}-next", connection=Redis.from_url(redis_url))
    assert job.get_status() == "scheduled"
    job.delete()
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(RuleSetVersion(tenant_id=tenant.tenant_id, version=2, status="published",
                             body={**RULES, "handoff": [r for r in RULES["handoff"] if r["trigger"] != "reply"]}))
        s.execute(RuleSetVersion.__table__.update().where(RuleSetVersion.version == 1).values(status="archived"))
    assert read_inbound(tenant.tenant_id) == 0
    assert Job.exists(f"inbound-{tenant.tenant_id}-next", connection=Redis.from_url(redis_url)) is False


def test_receive_inbound_stores_once_and_its_job_matches_the_number_and_runs_the_rules(tenant, env, redis_url):
    sms = InboundMessage(id="SM1", channel="sms", object_type="", record_id="", sender="+14155550100",
                         subject="", text="STOP", received_at=NOW)
    with session_scope(env["DATABASE_URL"]) as s:
        assert receive_inbound(s, tenant.tenant_id, sms) is True
        assert receive_inbound(s, tenant.tenant_id, sms) is False
        row_id = s.scalar(select(InboundMessageRow.id))
    assert Job.exists(f"inbound-{tenant.tenant_id}-{row_id}", connection=Redis.from_url(redis_url))
    BurstWorker(["sweep"], connection=Redis.from_url(redis_url)).work(burst=True)
    assert tenant.do_not_contact == {("contact", "c2")}
    assert rows(env)[0][:2] == ("sms:SM1", "c2")


def test_a_reply_the_crm_refused_to_act_on_is_handled_by_the_next_read(tenant, env, redis_url):
    tenant.inbound = [message(1, "What does it cost?", "c1")]
    create_task = tenant.create_task

    def refused_once(spec):  # the CRM answers 429 to the owner's task the first time
        tenant.create_task = create_task
        raise CRMRateLimited("429", retry_after=5)

    tenant.create_task = refused_once
    read_inbound(tenant.tenant_id)  # put off: the next read is planned after Retry-After
    assert [(key, outcome) for key, _, outcome in rows(env)] == [("email:m1", {})]  # stored, not handled yet
    assert read_inbound(tenant.tenant_id) == 0  # nothing new, but the stored reply is handled now
    assert rows(env)[0][2]["rules"][0]["actions"]["notify_owner"] == "task created"
    assert len(tenant.specs) == 1


def test_a_text_left_unhandled_is_handled_by_the_next_read(tenant, env):
    sms = InboundMessage(id="SM2", channel="sms", object_type="", record_id="", sender="+14155550100",
                         subject="", text="How much is it?", received_at=NOW)
    with session_scope(env["DATABASE_URL"]) as s:
        receive_inbound(s, tenant.tenant_id, sms)  # its job never ran (the tenant was paused)
    read_inbound(tenant.tenant_id)
    assert rows(env)[0][1] == "c2"
    assert rows(env)[0][2]["rules"][0]["rule"] == "Pricing"
