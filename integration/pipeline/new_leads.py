"""Which leads the pipeline may route: every lead nobody owns, and an owned one only when it is new.

"New" means created after LeadRelay started routing for the tenant: the install (a reinstall after an uninstall
resets it, tenancy.upsert_tenant), or the first published rule set when that came later. Until then an owner was
set by a person or by the CRM, and it stays. The age is the CRM's own created date (`Record.created_at`, which each
adapter reads in UTC) compared with our clock, so a margin covers the skew between the two clocks: an owned lead
created less than SKEW either side of that moment counts as new only when its creation webhook reached us after it
(one clock, ours; a webhook that does not say it announced a creation counts only for a record never saved since).
An owned lead with no created date keeps its owner. Whatever brings a lead in (a webhook, the
sweep, the backfill, a replay after a reconnect), the answer is the same; and a lead LeadRelay already decided is
never decided again (pipeline.route_key).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.models import EventRecord, RuleSetVersion, Tenant
from integration.records import EventKind, Record

SKEW = dt.timedelta(minutes=1)


def routing_since(session: Session, tenant: Tenant) -> dt.datetime:
    """When LeadRelay started routing for the tenant: its install, or its first published rule set if later."""
    first = session.scalar(select(func.min(func.coalesce(RuleSetVersion.published_at, RuleSetVersion.created_at)))
                           .where(RuleSetVersion.tenant_id == tenant.id,
                                  RuleSetVersion.status.in_(("published", "archived"))))
    since = _utc(tenant.installed_at)
    return max(since, _utc(first)) if first is not None else since


def routable(session: Session, tenant: Tenant, object_type: str, records: Iterable[Record]) -> set[str]:
    """The ids of `records` the pipeline may route (unowned, or owned and created since routing started)."""
    records = list(records)
    ids = {r.id for r in records if r.owner_id is None}
    owned = [(r.id, _utc(r.created_at)) for r in records if r.owner_id is not None and r.created_at is not None]
    if not owned:
        return ids
    since = routing_since(session, tenant)
    ids |= {i for i, created in owned if created > since + SKEW}
    close = {i for i, created in owned if since - SKEW <= created <= since + SKEW}
    if close:
        ids |= created_by_webhook(session, tenant.id, object_type, [r for r in records if r.id in close], since)
    return ids


def created_by_webhook(session: Session, tenant_id: int, object_type: str, records: list[Record],
                       since: dt.datetime) -> set[str]:
    """The ids of `records` whose creation webhook arrived at or after `since` (a record created before cannot have
    sent one).

    A webhook that does not say whether it announced a creation (EventKind.CHANGED) counts as one only for a record
    never saved since it was created (its updated date is its created date): nothing but its creation can have sent
    it. A record saved since may have sent it for an edit, so it keeps its owner (the safe side)."""
    pristine = {r.id for r in records if r.created_at is not None and r.updated_at == r.created_at}
    rows = session.execute(select(EventRecord.object_id, EventRecord.kind).where(
        EventRecord.tenant_id == tenant_id, EventRecord.object_type == object_type,
        EventRecord.object_id.in_([r.id for r in records]),
        EventRecord.kind.in_((EventKind.CREATED, EventKind.CHANGED)), EventRecord.received_at >= since))
    return {object_id for object_id, kind in rows if kind == EventKind.CREATED or object_id in pristine}


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
