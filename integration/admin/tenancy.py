"""Tenant lifecycle: install (idempotent upsert), re-auth pause, resume, uninstall and erasure."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.db import session_scope
from integration.jobs import job
from integration.models import (
    Credential,
    DataErasure,
    Decision,
    DedupCalibration,
    DedupKey,
    EventRecord,
    IntakeKey,
    IntakeSubmission,
    MergeSnapshot,
    ReviewItem,
    SlaTimer,
    SweepCursor,
    Tenant,
    TenantStatus,
    WebhookKey,
    utcnow,
)
from integration.queues import MAINTENANCE

log = logging.getLogger("leadrelay.tenancy")


def upsert_tenant(session: Session, platform: str, installation: dict[str, Any]) -> tuple[Tenant, bool]:
    """Create or update the tenant of (platform, installation["external_id"]); returns (tenant, created)."""
    external_id = str(installation["external_id"])
    tenant = session.scalar(select(Tenant).where(Tenant.platform == platform, Tenant.external_id == external_id))
    created = tenant is None
    if created:
        tenant = Tenant(platform=platform, external_id=external_id)
        session.add(tenant)
    tenant.name = installation.get("name") or tenant.name or f"{platform} {external_id}"
    tenant.api_base = installation.get("api_base") or tenant.api_base
    if tenant.status == TenantStatus.UNINSTALLED:
        # a new installation: what reps came to own while LeadRelay was gone (and was erased) stays theirs
        tenant.installed_at = utcnow()
    tenant.status = TenantStatus.ACTIVE
    tenant.uninstalled_at = None
    tenant.settings = {**(tenant.settings or {}), **installation.get("settings", {})}
    session.flush()
    log.info("tenant.installed" if created else "tenant.reinstalled",
             extra={"tenant_id": tenant.id, "platform": platform})
    return tenant, created


def mark_reauth_required(tenant_id: int, reason: str) -> None:
    """Pause the tenant until the admin reconnects; its events stay in the log, waiting."""
    with session_scope(get_settings().database_url) as session:
        tenant = Tenant.merge_settings(session, tenant_id, {"reauth_reason": reason[:300]})
        if tenant is None or tenant.status != TenantStatus.ACTIVE:
            session.rollback()  # a paused or uninstalled tenant keeps the reason it has
            return
        tenant.status = TenantStatus.REAUTH_REQUIRED
    log.warning("tenant.reauth-required", extra={"tenant_id": tenant_id, "reason": reason[:300]})


def waiting_events(session: Session, tenant_id: int) -> list[EventRecord]:
    """Events received while the tenant was paused, oldest first."""
    return list(session.scalars(EventRecord.for_tenant(tenant_id).where(EventRecord.status.in_(("received", "waiting")))
                                .order_by(EventRecord.id)))


def mark_uninstalled(session: Session, tenant: Tenant) -> None:
    tenant.status = TenantStatus.UNINSTALLED
    tenant.uninstalled_at = utcnow()


# What erasure removes, in order (children before parents where there are no cascades).
ERASED = (("credentials", Credential), ("dedup_keys", DedupKey), ("events", EventRecord),
          ("decisions", Decision), ("review_items", ReviewItem), ("sla_timers", SlaTimer),
          ("merge_snapshots", MergeSnapshot), ("webhook_keys", WebhookKey), ("sweep_cursors", SweepCursor),
          # web-form submissions hold the people's own words, emails and phones; then the keys they came by
          ("intake_submissions", IntakeSubmission), ("intake_keys", IntakeKey),
          # the tenant's last-name frequencies
          ("dedup_calibrations", DedupCalibration))


@job(MAINTENANCE, name="erase_tenant_data", timeout=600, retries=5, require_active=False)
def erase_tenant_data(tenant_id: int, reason: str) -> dict[str, int]:
    """Delete the tenant's tokens, dedup index, events, decisions, review items and timers; record it."""
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return {}
        if tenant.status == TenantStatus.ACTIVE:
            log.warning("tenant.erase-skipped-reinstalled", extra={"tenant_id": tenant_id})
            return {}  # re-installed between the uninstall and this job: nothing to erase
        erasure = DataErasure(tenant_id=tenant.id, platform=tenant.platform, external_id=tenant.external_id,
                              reason=reason[:200])
        removed = {}
        for name, model in ERASED:
            removed[name] = session.execute(delete(model).where(model.tenant_id == tenant.id)).rowcount or 0
        erasure.removed = removed
        erasure.completed_at = utcnow()
        session.add(erasure)
    log.info("tenant.erased", extra={"tenant_id": tenant_id, "removed": removed})
    return removed
