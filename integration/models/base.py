"""Declarative base, common columns and the tenant-scoping helpers every tenant-owned model uses."""
from __future__ import annotations

import datetime as dt
from typing import Any, Self

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone on the way back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow,
                                                    nullable=False)


class TenantScoped:
    """Rows owned by one tenant. Read them only through these helpers, never a bare `get(id)`."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:  # noqa: N805 - SQLAlchemy declared_attr convention
        return mapped_column(Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True)

    @classmethod
    def get_for_tenant(cls, session: Session, row_id: Any, tenant_id: int) -> Self | None:
        """The row with this id if it belongs to `tenant_id`, else None (callers answer 404)."""
        return session.scalar(select(cls).where(cls.id == row_id, cls.tenant_id == tenant_id))

    @classmethod
    def for_tenant(cls, tenant_id: int):
        """A SELECT of this model already filtered to one tenant."""
        return select(cls).where(cls.tenant_id == tenant_id)
