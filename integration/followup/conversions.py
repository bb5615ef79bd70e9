"""Recording conversions (LeadConversion) for the KPIs: a routed lead's first meeting, first deal, first deal won.

Only leads LeadRelay routed count (a route Decision for the record): a deal on a contact that never came through
LeadRelay says nothing about its routing. Each kind is recorded once per lead (the table's unique key): a replayed
webhook, a swept deal seen twice or a meeting page read again adds nothing.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.models import Decision, LeadConversion
from integration.models.outreach import DEAL, MEETING, WON
from integration.records import Meeting, Record

__all__ = ["DEAL", "MEETING", "WON", "for_deal", "for_meetings", "record", "routed_leads"]


def routed_leads(session: Session, tenant_id: int, ids: Iterable[str]) -> dict[str, str]:
    """Of these record ids, the ones LeadRelay routed: id -> the object type its route decision names."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    rows = session.execute(select(Decision.object_id, Decision.object_type).where(
        Decision.tenant_id == tenant_id, Decision.kind == "route", Decision.object_id.in_(ids)))
    return {object_id: object_type for object_id, object_type in rows}


def record(session: Session, tenant_id: int, object_type: str, object_id: str, kind: str, at: dt.datetime,
           ref_id: str | None = None) -> bool:
    """Add the conversion unless the lead has it already; True when added. Never commits the caller's work: the
    insert runs in a savepoint, so losing a race to another worker rolls back only this row."""
    exists = session.scalar(select(LeadConversion.id).where(
        LeadConversion.tenant_id == tenant_id, LeadConversion.object_type == object_type,
        LeadConversion.object_id == object_id, LeadConversion.kind == kind))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(LeadConversion(tenant_id=tenant_id, object_type=object_type, object_id=object_id, kind=kind,
                                       at=at, ref_id=ref_id))
    except IntegrityError:
        return False
    return True


def for_deal(session: Session, tenant_id: int, deal: Record, now: dt.datetime | None = None) -> int:
    """DEAL for each routed contact of the deal, and WON too when the deal is won; returns rows added."""
    leads = routed_leads(session, tenant_id, deal.contact_ids)
    at = deal.created_at or now or dt.datetime.now(dt.UTC)
    won_at = deal.updated_at or now or dt.datetime.now(dt.UTC)
    added = 0
    for contact_id, object_type in leads.items():
        added += record(session, tenant_id, object_type, contact_id, DEAL, at, deal.id)
        if deal.fields.get("deal_status") == "won":
            added += record(session, tenant_id, object_type, contact_id, WON, won_at, deal.id)
    return added


def for_meetings(session: Session, tenant_id: int, meetings: Iterable[Meeting]) -> int:
    """MEETING for each meeting's record LeadRelay routed (its first meeting only); returns rows added."""
    meetings = list(meetings)
    leads = routed_leads(session, tenant_id, (m.record_id for m in meetings))
    added = 0
    for meeting in sorted(meetings, key=lambda m: m.at):
        if meeting.record_id in leads:
            added += record(session, tenant_id, leads[meeting.record_id], meeting.record_id, MEETING, meeting.at,
                            meeting.id)
    return added
