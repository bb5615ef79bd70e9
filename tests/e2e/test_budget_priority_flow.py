"""Issue 21: a backfill running on a tenant cannot spend the API budget its new leads need.

Salesforce against the sandbox, with an org allowance so small that what is left of it after the install is a few
dozen calls, and real `leadrelay worker` processes (two, so the backfill and the new leads' drain run at once).
The allowance is daily: nothing refills during the test, so what each class may spend is exact: the backfill
(bulk), running when the new leads arrive, stops where half the bucket is left; the new leads take the rest without
waiting, whichever worker runs what when.
"""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select

from integration.db import session_scope
from integration.intake.backfill import backfill_tenant
from integration.intake.events import enqueue_drain, record_events
from integration.models import Decision, DedupKey
from integration.queues import QUEUES, SWEEP
from integration.ratelimit import read_waits
from integration.records import Event, EventKind
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.e2e.test_pipeline_flow import OWNERS, RULES, record_id, simulate

pytestmark = pytest.mark.e2e

EXISTING = 500  # five pages of the backfill: more than its share of what is left lets it read
NEW_LEADS = ("Grace Hopper", "Ada Lovelace", "Alan Turing")


def _used(crm_sandbox, account: dict) -> int:
    """The org's API requests counted so far, from the Sforce-Limit-Info of one query made with its own token."""
    resp = browser(crm_sandbox).get(f"{account['api_base']}/services/data/v59.0/query",
                                    params={"q": "SELECT Id FROM User LIMIT 1"},
                                    headers={"Authorization": f"Bearer {account['access_token']}"}, timeout=10)
    resp.raise_for_status()
    return int(resp.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")[0])


def test_a_running_backfill_leaves_the_new_leads_their_budget(app, crm_env, crm_sandbox):
    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "salesforce",
                                            RULES, "Budget Org", OWNERS)
    redis = Redis.from_url(crm_env["REDIS_URL"])
    for name in QUEUES:  # the install's follow-up jobs (and its first sweep, planned for later) are not under test
        Queue(name, connection=redis).empty()
        planned = ScheduledJobRegistry(name, connection=redis)
        for job_id in planned.get_job_ids():
            planned.remove(job_id, delete_job=True)
    for i in range(EXISTING):  # leads the org had before LeadRelay, each with its owner already
        simulate(crm_sandbox, account, {"action": "create", "object_type": "Lead", "properties": {
            "FirstName": f"Old{i}", "LastName": "Lead", "Company": f"Old {i}", "Email": f"old{i}@old.example"}})
    new = [record_id("salesforce", simulate(crm_sandbox, account, {"action": "create", "object_type": "Lead",
                                                                    "properties": {
        "FirstName": name.split()[0], "LastName": name.split()[1], "Company": "New Co",
        "Email": f"{name.replace(' ', '.').lower()}@new.example", "Country": "Germany"}})) for name in NEW_LEADS]

    # The org's allowance: what is used, plus a little (the others' part keeps it large enough for the new
    # leads). The backfill's first call shows LeadRelay the limit (Sforce-Limit-Info); after it
    # `left_after_first` calls remain of a bucket of 0.9 x limit. Bulk work stops where half of that bucket (its
    # 50 % threshold) is left: two more calls (the .5 keeps the boundary off a whole number, so the refill of a
    # daily allowance over the test, a few thousandths of a call, cannot move it).
    for _ in range(60):  # the org's other integrations have used some of it today
        used = _used(crm_sandbox, account)
    limit = round((used + 1 + 2.5) / 0.55)
    crm_sandbox.sandbox.config.update({"limits": {"salesforce": {"daily_api_requests": limit}}})
    left_after_first = limit - used - 1
    bulk_calls = 1 + int(left_after_first - 0.45 * limit)  # the first, then down to the threshold
    assert bulk_calls * 100 < EXISTING  # the backfill cannot finish on its share
    assert left_after_first - (bulk_calls - 1) >= 6 * len(NEW_LEADS)  # what the new leads find is plenty

    workers = start_worker(crm_env, "--processes", "2")
    try:
        backfill_tenant.enqueue(tenant_id, job_id=f"backfill-{tenant_id}")
        wait_for(lambda: _indexed(crm_env, tenant_id, new), timeout=60, what="the backfill to read its first page")
        with session_scope(crm_env["DATABASE_URL"]) as s:
            record_events(s, tenant_id, [Event(platform="salesforce", account_id="", object_type="lead",
                                               object_id=lead, kind=EventKind.CREATED,
                                               occurred_at=dt.datetime.now(dt.UTC), event_id=f"new-{lead}")
                                         for lead in new])
        enqueue_drain(tenant_id)
        owned = wait_for(lambda: _routed(crm_env, new), timeout=90, what="every new lead to be routed")
        held = wait_for(lambda: [j for j in ScheduledJobRegistry(SWEEP, connection=redis).get_job_ids()
                                 if j.startswith(f"backfill-{tenant_id}") and j.endswith("-held")],
                        timeout=60, what="the backfill to be held back for the new leads")
    finally:
        crm_sandbox.sandbox.config.reset()
        log = stop_worker(workers)

    assert set(owned) == set(new), log  # every new lead owned
    assert held, log  # the backfill is planned again for when the budget allows it, not failed
    assert FailedJobRegistry(SWEEP, connection=redis).count == 0
    indexed = _indexed(crm_env, tenant_id, new)
    assert 0 < indexed <= bulk_calls * 100 < EXISTING  # it ran, on its share only
    waits = read_waits(redis, tenant_id)
    assert waits.get(("daily", "bulk"), 0) >= 1  # the backfill waited for the threshold
    assert waits.get(("daily", "new_lead"), 0) == 0, waits  # no new lead's call ever waited for the budget


def _indexed(env, tenant_id: int, new: list[str]) -> int:
    """The org's existing leads the backfill has indexed so far."""
    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(select(func.count(func.distinct(DedupKey.object_id))).where(
            DedupKey.tenant_id == tenant_id, DedupKey.object_id.not_in(new)))


def _routed(env, leads: list[str]) -> list[str]:
    with session_scope(env["DATABASE_URL"]) as s:
        found = s.scalars(select(Decision.object_id).where(Decision.kind == "route",
                                                           Decision.object_id.in_(leads))).all()
    return list(found) if set(found) == set(leads) else []
