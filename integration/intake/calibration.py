"""The per-tenant dedup calibration job: read the tenant's leads, fit EM and last-name shares, store them.

Queued when a backfill finishes and re-run weekly (each run plans the next, one job id per week, as the daily
stale-lead run does). It reads at most MAX_RECORDS records: em.py samples 20,000 of them anyway, and a larger
tenant's first 50,000 (oldest changes first) tell the same about its fields.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from integration.config import get_settings
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.dedup.tenant import fit, store
from integration.errors import CRMRateLimited
from integration.jobs import job
from integration.models import Tenant, TenantStatus
from integration.pipeline.duplicates import as_dict
from integration.queues import MAINTENANCE

log = logging.getLogger("leadrelay.calibration")
MAX_RECORDS = 50_000
PAGE = 100
WEEK = dt.timedelta(days=7)


@job(MAINTENANCE, name="calibrate_tenant_dedup", timeout=1800)
def calibrate_tenant_dedup(tenant_id: int, weekly: bool = False) -> dict:
    """Fit the tenant's dedup calibration on its own records and store it (replacing the last one)."""
    try:
        return _calibrate(tenant_id)
    except CRMRateLimited as exc:  # the whole read starts over then: nothing was stored
        calibrate_tenant_dedup.enqueue(tenant_id, job_id=f"calibrate-{tenant_id}-later", delay=exc.retry_after)
        return {"status": "put off"}
    finally:
        if weekly:
            schedule_calibration(tenant_id)


def read_leads(tenant_id: int, limit: int = MAX_RECORDS) -> list[dict]:
    """The tenant's lead-object records as plain lead dicts, paged from the CRM's epoch, at most `limit`."""
    adapter = adapter_for(tenant_id)
    cursor, rows = adapter.EPOCH_CURSOR, []
    while len(rows) < limit:
        page = adapter.changed_since(adapter.LEAD_OBJECT, cursor, limit=PAGE)
        rows += [as_dict(r) for r in page.records]
        cursor = page.cursor
        if not page.has_more:
            break
    return rows[:limit]


def _calibrate(tenant_id: int) -> dict:
    result = fit(read_leads(tenant_id))
    with session_scope(get_settings().database_url) as session:
        store(session, tenant_id, result)
    summary = {"status": result.status, "reason": result.reason, "records": result.records_used,
               "pairs": result.pairs_used}
    log.info("dedup.calibrated", extra={"tenant_id": tenant_id, **summary})
    return summary


def schedule_calibration(tenant_id: int, now: dt.datetime | None = None):
    """Plan the tenant's next weekly run (one job id per week: planning it twice changes nothing)."""
    at = (now or dt.datetime.now(dt.UTC)) + WEEK
    year, week, _ = at.isocalendar()
    return calibrate_tenant_dedup.enqueue(tenant_id, True, job_id=f"calibrate-{tenant_id}-{year}w{week:02d}", at=at)


def calibrate_soon(tenant_id: int):
    """Calibrate now (after a backfill: the tenant's records are all known) and weekly from then on."""
    return calibrate_tenant_dedup.enqueue(tenant_id, True, job_id=f"calibrate-{tenant_id}-now")


def calibrate_now(tenant_id: int):
    """An admin asked (the settings page): once, now; the weekly run stays as planned."""
    return calibrate_tenant_dedup.enqueue(tenant_id, job_id=f"calibrate-{tenant_id}-asked")


def schedule_calibrations() -> int:
    """Every active tenant's weekly run planned (at worker start; idempotent by job id)."""
    with session_scope(get_settings().database_url) as session:
        tenant_ids = session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)).all()
    for tenant_id in tenant_ids:
        schedule_calibration(tenant_id)
    return len(tenant_ids)
