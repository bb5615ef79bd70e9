"""Backfill on install: page through the CRM's existing leads in bounded batches, index them, route the unowned."""
from __future__ import annotations

import logging

from integration.config import get_settings
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.dedup.index import index_record
from integration.intake.calibration import calibrate_soon
from integration.intake.events import enqueue_drain, record_events
from integration.jobs import job
from integration.models import Tenant, utcnow
from integration.queues import SWEEP
from integration.records import Event, EventKind

log = logging.getLogger("leadrelay.backfill")
PAGES_PER_JOB = 10  # 1,000 records, then the job re-plans itself: other tenants get their turn


@job(SWEEP, name="backfill_tenant", timeout=600)
def backfill_tenant(tenant_id: int, cursor: str | None = None) -> dict:
    """Index every existing lead (the dedup index is then complete) and queue the unowned ones for routing."""
    adapter = adapter_for(tenant_id)
    cursor = cursor or adapter.EPOCH_CURSOR
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        platform, account = tenant.platform, tenant.external_id
        progress = dict((tenant.settings or {}).get("backfill") or {"indexed": 0, "unowned": 0})
    more = False
    for _ in range(PAGES_PER_JOB):
        page = adapter.changed_since(adapter.LEAD_OBJECT, cursor, limit=100)
        with session_scope(settings.database_url) as session:
            for record in page.records:
                index_record(session, tenant_id, record)
            unowned = [Event(platform=platform, account_id=account, object_type=r.object_type, object_id=r.id,
                             kind=EventKind.UPDATED, occurred_at=r.updated_at or utcnow(),
                             event_id=f"backfill:{r.object_type}:{r.id}", source="backfill")
                       for r in page.records if r.owner_id is None]
            progress["unowned"] += record_events(session, tenant_id, unowned)
        progress["indexed"] += len(page.records)
        cursor, more = page.cursor, page.has_more
        if not more:
            break
    _save_progress(tenant_id, progress, cursor, finished=not more)
    if progress["unowned"]:
        enqueue_drain(tenant_id)
    if not more:
        calibrate_soon(tenant_id)  # every record is known now: fit the tenant's own dedup calibration
    if more:
        backfill_tenant.enqueue(tenant_id, cursor, job_id=f"backfill-{tenant_id}-next")
    return progress


def _save_progress(tenant_id: int, progress: dict, cursor: str, finished: bool) -> None:
    with session_scope(get_settings().database_url) as session:
        state = {**progress, "cursor": cursor, "updated_at": utcnow().isoformat()}
        changes = {"backfill": state}
        if finished:
            state["finished_at"] = utcnow().isoformat()
            changes["index_complete"] = True  # the pipeline can trust the index instead of searching the CRM
        Tenant.merge_settings(session, tenant_id, changes)
    log.info("backfill.progress", extra={"tenant_id": tenant_id, **progress, "finished": finished})
