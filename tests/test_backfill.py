"""Backfill on install: every existing lead indexed, the unowned ones queued for routing, progress kept."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from sqlalchemy import func, select

from integration.db import session_scope
from integration.intake.backfill import backfill_tenant
from integration.models import DedupKey, EventRecord, Tenant
from tests.fakes import FakeCRMAdapter
from tests.workers import BurstWorker


@pytest.fixture()
def crm(app, env, wire_adapters):
    fake = FakeCRMAdapter()
    wire_adapters(lambda tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(Tenant(platform="fake", external_id="A", name="A"))
    return fake


def test_backfill_indexes_everything_and_queues_only_the_unowned(crm, env, monkeypatch):
    monkeypatch.setattr("integration.intake.backfill.PAGES_PER_JOB", 1)  # force several bounded jobs
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for i in range(250):
        fields = {"email": f"p{i}@example.com"}
        if i % 5:
            fields["owner_id"] = "u1"
        crm.put("contact", f"c{i}", updated_at=start + dt.timedelta(minutes=i), **fields)
    backfill_tenant.enqueue(1)
    BurstWorker(["sweep"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)

    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(func.count(func.distinct(DedupKey.object_id)))) == 250
        assert s.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.source == "backfill")) == 50
        state = s.get(Tenant, 1).settings
    assert state["backfill"]["indexed"] == 250 and state["backfill"]["finished_at"]
    assert state["index_complete"] is True
    assert crm.calls["changed_since"] == 3  # 100 + 100 + 50, one page per job
