"""A tenant's own dedup calibration: EM over its records' candidate pairs and its last-name frequencies."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, TenantScoped, UTCDateTime, utcnow


class DedupCalibration(TenantScoped, Base):
    """One row per tenant, replaced by each run of the calibration job; `status` "fitted" or "prior kept"."""

    __tablename__ = "dedup_calibrations"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    estimate: Mapped[dict | None] = mapped_column(JSON, nullable=True)   # share, m, u (integration.dedup.em)
    surnames: Mapped[dict | None] = mapped_column(JSON, nullable=True)   # top shares, coincidence, floor
    records_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
