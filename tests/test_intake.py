"""Intake and sweep with the in-memory FakeCRMAdapter: idempotent, coalesced, fair, nothing lost."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.intake.sweep import sweep_tenant
from integration.models import DedupKey, EventRecord, Tenant
from integration.records import Event
from tests.fakes import FakeCRMAdapter
from tests.workers import BurstWorker


@pytest.fixture()
def crm(app, env, wire_adapters):
    """Two active tenants sharing one fake CRM (the factory is wired to it)."""
    fake = FakeCRMAdapter()
    wire_adapters(lambda tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all([Tenant(platform="fake", external_id="A", name="A"), Tenant(platform="fake", external_id="B",
                                                                             name="B")])
    return fake


def event(object_id: str, n: int = 0, account: str = "A") -> Event:
    return Event(platform="fake", account_id=account, object_type="contact", object_id=object_id, kind="updated",
                 occurred_at=dt.datetime.now(dt.UTC), event_id=f"{object_id}-{n}")


def drain(env) -> None:
    conn = Redis.from_url(env["REDIS_URL"])
    BurstWorker(["intake", "sweep"], connection=conn).work(burst=True)


def counts(env) -> dict[str, int]:
    with session_scope(env["DATABASE_URL"]) as s:
        return dict(s.execute(select(EventRecord.status, func.count()).group_by(EventRecord.status)).all())


def test_a_redelivered_event_is_stored_once(crm, env):
    with session_scope(env["DATABASE_URL"]) as s:
        assert record_events(s, 1, [event("c1")]) == 1
        assert record_events(s, 1, [event("c1"), event("c2")]) == 1
    assert counts(env) == {"received": 2}


def test_a_burst_for_one_object_is_one_fetch(crm, env):
    crm.put("contact", "c1", email="Ann@Example.com", last_name="Lee")
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, 1, [event("c1", n) for n in range(100)])
    for _ in range(100):
        enqueue_drain(1)  # every webhook request enqueues; the pending drain absorbs them
    assert Queue("intake", connection=Redis.from_url(env["REDIS_URL"])).count == 1
    drain(env)
    assert crm.calls["get_records"] == 1
    assert counts(env) == {"processed": 100}
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(DedupKey.key_value).where(DedupKey.key_type == "email")) == "ann@example.com"


def test_many_objects_are_fetched_in_batches(crm, env):
    for i in range(120):
        crm.put("contact", f"c{i}", email=f"p{i}@example.com")
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, 1, [event(f"c{i}") for i in range(120)])
    enqueue_drain(1)
    drain(env)
    assert counts(env) == {"processed": 120}
    assert crm.calls["get_records"] == 3  # 50 + 50 + 20: ≤ 0.03 calls per lead


def test_a_rate_limited_drain_is_replanned_not_failed(crm, env):
    crm.put("contact", "c1")
    crm.rate_limited_calls = 1
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, 1, [event("c1")])
    enqueue_drain(1)
    drain(env)
    conn = Redis.from_url(env["REDIS_URL"])
    assert Queue("intake", connection=conn).failed_job_registry.count == 0
    assert Queue("intake", connection=conn).scheduled_job_registry.count == 1  # back after Retry-After
    assert counts(env) == {"received": 1}


def test_a_paused_tenant_keeps_its_events_until_it_resumes(crm, env):
    crm.put("contact", "c1")
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, 1).status = "reauth_required"
        record_events(s, 1, [event("c1")])
    enqueue_drain(1)
    drain(env)
    assert counts(env) == {"received": 1} and crm.calls["get_records"] == 0
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, 1).status = "active"
    from integration.intake.events import resume_pending

    assert resume_pending() == 1
    drain(env)
    assert counts(env) == {"processed": 1}


def test_the_sweep_takes_in_what_webhooks_missed_and_only_that(crm, env):
    crm.put("contact", "heard", email="a@x.co")
    crm.put("contact", "missed", email="b@x.co")
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, 1, [event("heard")])  # the webhook for "heard" arrived after its change
    job = sweep_tenant.enqueue(1)
    BurstWorker(["sweep"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)
    assert job.latest_result().return_value == 1
    with session_scope(env["DATABASE_URL"]) as s:
        swept = s.scalars(select(EventRecord.object_id).where(EventRecord.source == "sweep")).all()
    assert swept == ["missed"]
    # the next sweep is planned, once
    assert Queue("sweep", connection=Redis.from_url(env["REDIS_URL"])).scheduled_job_registry.count == 1


def test_the_sweep_reads_again_a_search_lag_behind_its_cursor_and_takes_in_each_change_once(crm, env):
    crm.SEARCH_LAG = dt.timedelta(seconds=10)  # a CRM whose "what changed" is an eventually consistent search
    seen = crm.put("contact", "seen", email="a@x.co")
    assert sweep_tenant(1) == 1
    # changed two seconds before the record the cursor stands on, but indexed only now: behind the cursor
    crm.put("contact", "indexed-late", updated_at=seen.updated_at - dt.timedelta(seconds=2), email="b@x.co")
    assert sweep_tenant(1) == 1  # found through the overlap; "seen", read again, is no new event
    assert sweep_tenant(1) == 0
    with session_scope(env["DATABASE_URL"]) as s:
        swept = s.scalars(select(EventRecord.object_id).where(EventRecord.source == "sweep")).all()
    assert sorted(swept) == ["indexed-late", "seen"]
    drain(env)
    assert counts(env) == {"processed": 2}
