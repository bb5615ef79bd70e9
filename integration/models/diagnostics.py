"""Diagnostics probes: a web-to-worker round trip."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, UTCDateTime, utcnow


class Probe(Base):
    """A diagnostics round trip: web enqueues, a worker completes it. Not tenant data; kept for an hour
    (integration/admin/diagnostics.py PROBE_TTL). No index on requested_at: creation is rate-limited, so the table
    stays small enough for the expiry's scan."""

    __tablename__ = "probes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
