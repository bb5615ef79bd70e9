"""What first response and handoff share: the newly owned lead as both see it, and the automation holds."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.followup.common import claim
from integration.models import AutomationHold
from integration.records import CRMUser


@dataclass(frozen=True)
class NewLead:
    """A lead whose owner LeadRelay just wrote (pipeline.writes.flush_owners), as its route decision saw it."""

    object_type: str
    object_id: str
    owner: CRMUser | None
    tier: str
    score: int | None
    rule: str | None  # the routing rule that decided (KPIs by routing path)
    facts: dict[str, Any] = field(default_factory=dict)  # the normalized lead (decision inputs "lead")
    record_fields: dict[str, Any] = field(default_factory=dict)  # the CRM record's neutral fields as read
    created_at: dt.datetime | None = None  # the record's creation in the CRM: first response's clock starts here


def holds_of(session: Session, tenant_id: int, object_type: str, object_id: str) -> dict[str, AutomationHold]:
    """The lead's holds by kind (models.outreach.HOLD_KINDS)."""
    return {h.kind: h for h in session.scalars(select(AutomationHold).where(
        AutomationHold.tenant_id == tenant_id, AutomationHold.object_type == object_type,
        AutomationHold.object_id == object_id))}


def add_hold(session: Session, tenant_id: int, object_type: str, object_id: str, kind: str, reason: str,
             rule: str | None = None) -> bool:
    """Put a hold on the lead (once per kind); False when it was there already. Commits."""
    return claim(session, AutomationHold(tenant_id=tenant_id, object_type=object_type, object_id=object_id,
                                         kind=kind, reason=reason[:500], rule=rule))
