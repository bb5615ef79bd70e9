"""The reconciliation sweep: ask the CRM what changed since the last sweep and take in what webhooks missed.

Each pass starts the adapter's SEARCH_LAG before its saved cursor: where the CRM answers "what changed" from an
eventually consistent search index, a record changed just before the last pass may have been indexed only after it
(and the cursor may already stand past it). Records seen again are no new events (`_missed`, event ids), and a lead
is decided once (its route decision's key).
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from integration.config import get_settings
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.errors import CRMBudgetExhausted, CRMError
from integration.followup import conversions
from integration.followup.stale import schedule_reactivation
from integration.intake.events import enqueue_drain, record_events
from integration.jobs import job
from integration.models import EventRecord, SweepCursor, Tenant, TenantStatus, utcnow
from integration.outreach.replies import schedule_inbound
from integration.protocols import CRMAdapter
from integration.queues import SWEEP
from integration.records import Event, EventKind, Record

log = logging.getLogger("leadrelay.sweep")
MAX_PAGES = 20  # per run; the next run continues from the saved cursor


# What a tenant admin may choose on the settings page (tenant.settings["sweep_interval_seconds"]): often enough
# to catch a missed webhook before an SLA runs out, rarely enough to spare the CRM's API allowance.
SWEEP_INTERVALS = (60, 300, 900, 1800, 3600)
SWEEP_SETTING = "sweep_interval_seconds"


def chosen_interval(tenant_settings: dict | None) -> int:
    """The interval in a tenant's settings when it is one of SWEEP_INTERVALS, else the global setting."""
    chosen = (tenant_settings or {}).get(SWEEP_SETTING)
    return chosen if chosen in SWEEP_INTERVALS else get_settings().sweep_interval_seconds


def interval_seconds(tenant_id: int | None = None) -> int:
    """Seconds between two sweeps of the tenant (the global setting without a tenant)."""
    if tenant_id is None:
        return get_settings().sweep_interval_seconds
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        return chosen_interval(tenant.settings if tenant is not None else None)


def _missed(session, tenant_id: int, object_type: str, record: Record) -> bool:
    """No event for this object arrived after its last change: the webhook for it never came."""
    if record.updated_at is None:
        return True
    last = session.scalar(select(func.max(EventRecord.received_at)).where(
        EventRecord.tenant_id == tenant_id, EventRecord.object_type == object_type,
        EventRecord.object_id == record.id))
    return last is None or last.replace(tzinfo=last.tzinfo or dt.UTC) < record.updated_at


@job(SWEEP, name="sweep_tenant", timeout=600)
def sweep_tenant(tenant_id: int) -> int:
    """One pass over records changed since the cursor; schedules the next pass. Returns events added."""
    delay = interval_seconds(tenant_id)
    try:
        return _sweep(tenant_id)
    except CRMBudgetExhausted as exc:
        # the CRM takes no call until its allowance resets: the next pass then (the cursor kept what was swept)
        log.warning("sweep.put-off-until-reset", extra={"tenant_id": tenant_id, "reason": str(exc)})
        delay = max(delay, exc.retry_after)
        return 0
    finally:
        sweep_tenant.enqueue(tenant_id, job_id=f"sweep-{tenant_id}-next", delay=delay)
        # rules published since the install may have brought reply rules: their reader starts within one pass
        # (a pending read is not planned twice)
        schedule_inbound(tenant_id)


def _sweep(tenant_id: int) -> int:
    settings = get_settings()
    adapter = adapter_for(tenant_id)
    object_type = adapter.LEAD_OBJECT
    with session_scope(settings.database_url) as session:
        cursor = SweepCursor.current(session, tenant_id, object_type)
        tenant = session.get(Tenant, tenant_id)
        platform, account = tenant.platform, tenant.external_id
    added, overlap = 0, adapter.SEARCH_LAG
    for _ in range(MAX_PAGES):
        page = adapter.changed_since(object_type, cursor, limit=100, overlap=overlap)
        overlap = dt.timedelta(0)  # the pass's next pages go on from where this one ended
        with session_scope(settings.database_url) as session:
            missed = [r for r in page.records if _missed(session, tenant_id, object_type, r)]
            events = [Event(platform=platform, account_id=account, object_type=object_type, object_id=r.id,
                            kind=EventKind.UPDATED, occurred_at=r.updated_at or utcnow(),
                            event_id=f"sweep:{object_type}:{r.id}:{(r.updated_at or utcnow()).isoformat()}",
                            source="sweep") for r in missed]
            added += record_events(session, tenant_id, events)
            SweepCursor.save(session, tenant_id, object_type, page.cursor, added)
        cursor = page.cursor
        if not page.has_more:
            break
    if added:
        log.info("sweep.found-missed", extra={"tenant_id": tenant_id, "events": added})
        enqueue_drain(tenant_id)
    _meetings_pass(tenant_id, adapter)
    return added


def _meetings_pass(tenant_id: int, adapter: CRMAdapter) -> None:
    """The meetings pass after the leads': its failure must not fail the lead sweep, whose events are recorded and
    drained by now. Its cursor stays where the last good page left it, so the next pass picks up the rest."""
    try:
        sweep_meetings(tenant_id, adapter)
    except CRMBudgetExhausted:
        raise  # sweep_tenant puts the next pass off until the allowance resets
    except CRMError as exc:
        log.warning("sweep.meetings-failed", extra={"tenant_id": tenant_id, "reason": type(exc).__name__})


MEETINGS = "meetings"  # the SweepCursor object_type of the meetings pass


def sweep_meetings(tenant_id: int, adapter: CRMAdapter) -> int:
    """Meetings logged since the meetings cursor → a MEETING conversion for each lead LeadRelay routed (lead →
    meeting KPI); the cursor is saved page by page, so the next pass goes on from there. Returns rows added."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        cursor = SweepCursor.current(session, tenant_id, MEETINGS)
    added = 0
    for _ in range(MAX_PAGES):
        page = adapter.meetings_since(cursor, limit=100)
        with session_scope(settings.database_url) as session:
            added += conversions.for_meetings(session, tenant_id, page.meetings)
            SweepCursor.save(session, tenant_id, MEETINGS, page.cursor, added)
        cursor = page.cursor
        if not page.has_more:
            break
    return added


def schedule_sweeps() -> int:
    """Make sure every active tenant has its next sweep planned (idempotent: one pending job per tenant)."""
    with session_scope(get_settings().database_url) as session:
        tenant_ids = session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)).all()
    for tenant_id in tenant_ids:
        schedule_sweep(tenant_id)
    return len(tenant_ids)


def schedule_sweep(tenant_id: int, delay: float | None = None):
    schedule_reactivation(tenant_id)  # the daily stale-lead run plans itself alongside (one job per day)
    schedule_inbound(tenant_id)  # and the replies' reader, for a tenant with reply handoff rules
    return sweep_tenant.enqueue(tenant_id, job_id=f"sweep-{tenant_id}-next",
                                delay=interval_seconds(tenant_id) if delay is None else delay)
