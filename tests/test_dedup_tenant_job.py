"""The calibration job pages through a sandbox tenant's leads with the real adapter and stores one row per tenant;
a finished backfill queues it."""
from __future__ import annotations

import datetime as dt

from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.backfill import backfill_tenant
from integration.intake.calibration import calibrate_tenant_dedup, schedule_calibration
from integration.models import DedupCalibration, Tenant
from tests.crm_helpers import browser, install, new_account
from tests.test_dedup_tenant_calibration import FIRST, LAST
from tests.workers import BurstWorker

LEADS = 130   # two pages of 100


def _create_contacts(server, account_id: str) -> None:
    http = browser(server)
    for n in range(LEADS):
        first, last = FIRST[n % len(FIRST)], LAST[n // len(FIRST) % len(LAST)]
        resp = http.post(f"{server.url}/_sandbox/accounts/{account_id}/simulate", timeout=10, json={
            "action": "create", "object_type": "contacts",
            "properties": {"firstname": first, "lastname": last, "email": f"{first}.{last}{n}@calib.example",
                           "phone": f"+1 617 555 {n:04d}"}})
        resp.raise_for_status()


def _rows(env) -> list[DedupCalibration]:
    with session_scope(env["DATABASE_URL"]) as s:
        rows = s.scalars(select(DedupCalibration)).all()
        s.expunge_all()
        return rows


def _installed(crm_env, app, crm_sandbox, name: str) -> int:
    """A HubSpot sandbox account with its leads, LeadRelay installed into it; the tenant's id."""
    account = new_account(crm_sandbox, "hubspot", name=name)
    _create_contacts(crm_sandbox, account["account_id"])
    assert install(app.test_client(), crm_sandbox, "hubspot", account["account_id"]).status_code == 302
    with session_scope(crm_env["DATABASE_URL"]) as s:
        return s.scalar(select(Tenant.id))


def test_the_job_reads_every_lead_of_a_sandbox_tenant_and_stores_one_row(crm_env, app, crm_sandbox):
    tenant_id = _installed(crm_env, app, crm_sandbox, "Calibrated")

    backfill_tenant(tenant_id)   # finishes in one run (130 leads) and queues the calibration
    BurstWorker(["maintenance"], connection=Redis.from_url(crm_env["REDIS_URL"])).work(burst=True)
    [row] = _rows(crm_env)
    # their phones one digit apart (the near-miss keys) give EM enough pairs; 130 names are too few for shares
    assert (row.tenant_id, row.records_used, row.status) == (tenant_id, LEADS, "fitted")
    assert set(row.estimate) == {"share", "m", "u"} and row.pairs_used >= 500
    assert row.surnames is None and "last-name shares need 1000" in row.reason



def test_a_rate_limited_read_stores_nothing_and_plans_the_job_again(crm_env, app, crm_sandbox):
    tenant_id = _installed(crm_env, app, crm_sandbox, "Throttled")
    crm_sandbox.sandbox.config.update({"limits": {"hubspot": {"search_per_second": 1}}})
    try:
        summary = calibrate_tenant_dedup(tenant_id)   # the second page's search within a second gets HubSpot's 429
    finally:
        crm_sandbox.sandbox.config.update({"limits": {"hubspot": {"search_per_second": 5}}})
    assert summary == {"status": "put off"} and _rows(crm_env) == []
    queue = Queue("maintenance", connection=Redis.from_url(crm_env["REDIS_URL"]))
    assert f"calibrate-{tenant_id}-later" in queue.scheduled_job_registry.get_job_ids()


def test_the_weekly_run_is_planned_once_a_week(app, env):
    monday = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = schedule_calibration(7, now=monday)
    again = schedule_calibration(7, now=monday + dt.timedelta(days=2))   # a worker restart in the same week
    assert first.id == again.id == "calibrate-7-2026w51"
    queue = Queue("maintenance", connection=Redis.from_url(env["REDIS_URL"]))
    assert queue.scheduled_job_registry.get_job_ids() == ["calibrate-7-2026w51"]
