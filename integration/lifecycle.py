"""Lifecycle consistency across related objects: the follow-up issue fills this in."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integration.pipeline import Context
    from integration.records import Record


def on_changed(ctx: Context, object_type: str, records: list[Record]) -> None:
    """Called for every batch of changed records of a tenant with published rules."""
    return None
