"""The dedup blocking index kept in our database."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, TenantScoped, UTCDateTime, utcnow


class DedupKey(TenantScoped, Base):
    """A blocking key (normalized email, phone, name+company …) pointing at one CRM record."""

    __tablename__ = "dedup_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key_type", "key_value", "object_type", "object_id"),
        Index("ix_dedup_keys_lookup", "tenant_id", "key_type", "key_value"),
        Index("ix_dedup_keys_record", "tenant_id", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_type: Mapped[str] = mapped_column(String(16), nullable=False)
    key_value: Mapped[str] = mapped_column(String(200), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
