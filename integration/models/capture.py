"""Web-form capture: each tenant's intake keys, and the submissions they received (one row each, kept so an
idempotent repeat gets the first answer and a server-to-server caller can read what became of its lead)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, TenantScoped, TimestampMixin, UTCDateTime, utcnow

# What became of a submission (IntakeSubmission.status)
ACCEPTED, CREATED, UPDATED, REVIEW, SPAM, FAILED = "accepted", "created", "updated", "review", "spam", "failed"
SUBMISSION_STATES = (ACCEPTED, CREATED, UPDATED, REVIEW, SPAM, FAILED)


class IntakeKey(TenantScoped, TimestampMixin, Base):
    """The secret in a tenant's intake URL (`/intake/v1/<key>/submissions`), rotatable and revocable."""

    __tablename__ = "intake_keys"
    __table_args__ = (UniqueConstraint("key_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 hex: what a request is looked up by
    # encrypted like tokens, only so the settings page can show the URL and the snippet again
    key_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # the HMAC-SHA256 secret server-to-server callers sign bodies with (then they may read a submission's status)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)  # CORS, exact origins
    field_aliases: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)  # form name → ours


class IntakeSubmission(TenantScoped, Base):
    """One form post: the web layer stores it and answers 202; the `process_submission` job does the rest."""

    __tablename__ = "intake_submissions"
    __table_args__ = (UniqueConstraint("public_id"), UniqueConstraint("tenant_id", "idempotency_key"),
                      Index("ix_intake_submissions_tenant_received", "tenant_id", "received_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), nullable=False)  # the `submission_id` callers see
    key_id: Mapped[int | None] = mapped_column(ForeignKey("intake_keys.id", ondelete="SET NULL"), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)  # known fields, aliases applied
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)  # unknown fields, for the note
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ACCEPTED)
    spam_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    object_type: Mapped[str | None] = mapped_column(String(32), nullable=True)  # neutral: contact | lead
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    record_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
