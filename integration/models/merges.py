"""Snapshots taken before every merge, so a merge can be undone (no CRM offers undo)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, TenantScoped, UTCDateTime, utcnow


class MergeSnapshot(TenantScoped, Base):
    """Both records as they were before LeadRelay merged them, and what became of them."""

    __tablename__ = "merge_snapshots"
    __table_args__ = (UniqueConstraint("tenant_id", "object_type", "survivor_id", "loser_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    survivor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    loser_id: Mapped[str] = mapped_column(String(64), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    survivor_before: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    loser_before: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    merged_fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|merged|undone
    restored_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the loser, re-created on undo
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
