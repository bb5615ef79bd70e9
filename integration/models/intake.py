"""Webhook credentials per tenant and the sweep's cursors."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column

from integration.models.base import Base, TenantScoped, UTCDateTime, utcnow


class WebhookKey(TenantScoped, Base):
    """How a platform's webhook finds its tenant: a public key plus the hash of a secret we gave it."""

    __tablename__ = "webhook_keys"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 hex, checked on every delivery
    # encrypted like tokens, only so the console can show a URL the admin must paste (Salesforce)
    secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class SweepCursor(TenantScoped, Base):
    """Where the reconciliation sweep of one object type got to, per tenant."""

    __tablename__ = "sweep_cursors"
    __table_args__ = (UniqueConstraint("tenant_id", "object_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    cursor: Mapped[str] = mapped_column(String(200), nullable=False)
    swept_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    found: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # events the last sweep added

    @classmethod
    def current(cls, session: Session, tenant_id: int, object_type: str) -> str | None:
        """The tenant's cursor for `object_type` (a record type, or a pass of its own: "inbound", "meetings")."""
        row = session.scalar(cls.for_tenant(tenant_id).where(cls.object_type == object_type))
        return row.cursor if row else None

    @classmethod
    def save(cls, session: Session, tenant_id: int, object_type: str, cursor: str, found: int) -> None:
        """Keep where a pass got to (the caller commits)."""
        row = session.scalar(cls.for_tenant(tenant_id).where(cls.object_type == object_type))
        if row is None:
            row = cls(tenant_id=tenant_id, object_type=object_type, cursor=cursor)
            session.add(row)
        row.cursor, row.swept_at, row.found = cursor, utcnow(), found
