"""Follow-up after routing (SLA tasks, cadences): the follow-up issue fills this in."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integration.pipeline import Context
    from integration.records import CRMUser, Record


def on_routed(ctx: Context, record: Record, owner: CRMUser, decision: Any, tier: str, reason: str) -> None:
    """Called once per newly routed lead, after its owner was written."""
    return None
