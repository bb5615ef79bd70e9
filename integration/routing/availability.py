"""Whether an owner can take a lead at a moment: active, not out of office, within hours (when asked)."""
from __future__ import annotations

import datetime as dt

from integration.rules.model import Owner
from integration.rules.values import zone


def local_time(at: dt.datetime, timezone: str) -> dt.datetime:
    """`at` in the owner's zone; zoneinfo applies the offset in force that day (DST-correct)."""
    return at.astimezone(zone(timezone))


def unavailable_reason(owner: Owner, at: dt.datetime, default_timezone: str, respect_hours: bool) -> str | None:
    """None when the owner can take a lead at `at`, else why not ("inactive", "out of office", "outside hours")."""
    if not owner.active:
        return "inactive"
    local = local_time(at, owner.timezone or default_timezone)
    today = local.date()
    if any(first <= today <= last for first, last in owner.out_of_office):  # inclusive local dates
        return "out of office"
    if respect_hours and owner.hours is not None and not owner.hours.covers(local):
        return "outside hours"  # an owner without `hours` works any time
    return None
