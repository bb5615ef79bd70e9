"""Agency rule-set templates: a named copy of one client portal's rules, rolled out to other portals."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, UTCDateTime, utcnow


class AgencyTemplate(Base):
    """A rule-set body (RULES.md, as stored in rule_set_versions) owned by an agency.

    `rollouts` maps a tenant id (as text) to {"version", "by", "at", "published"}: the draft each rollout made.
    Read through `for_agency`, never a bare get: a template of another agency is not found.
    """

    __tablename__ = "agency_templates"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    rollouts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    @classmethod
    def get_for_agency(cls, session, template_id: Any, agency_id: int) -> AgencyTemplate | None:
        """The template if it belongs to `agency_id`, else None (callers answer 404)."""
        try:
            template_id = int(template_id)
        except (TypeError, ValueError):
            return None
        if not 0 < template_id <= 2**31 - 1:  # SQL INTEGER: past it PostgreSQL's parameter cast overflows
            return None
        return session.scalar(select(cls).where(cls.id == template_id, cls.agency_id == agency_id))
