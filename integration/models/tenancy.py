"""Tenants (one installed CRM account each), their credentials, agencies and console users."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, UniqueConstraint, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from integration.models.base import Base, TenantScoped, TimestampMixin, UTCDateTime, utcnow


class TenantStatus(StrEnum):
    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"  # refresh failed: processing paused, events kept
    PAUSED = "paused"                    # the admin paused it
    UNINSTALLED = "uninstalled"          # webhooks acknowledged and ignored; data deletion pending/done


class Agency(TimestampMixin, Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)


class Tenant(TimestampMixin, Base):
    """One CRM account that installed LeadRelay; (platform, external_id) is unique."""

    __tablename__ = "tenants"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(32), nullable=False, default=TenantStatus.ACTIVE)
    api_base: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id", ondelete="SET NULL"), nullable=True,
                                                  index=True)
    # the most the tenant's own admin let its agency do here ("admin" or "viewer"): agency roles are capped by it
    agency_grant: Mapped[str | None] = mapped_column(String(16), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    uninstalled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    agency: Mapped[Agency | None] = relationship()

    @property
    def is_processing(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    @classmethod
    def merge_settings(cls, session: Session, tenant_id: int, changes: dict[str, Any]) -> Tenant | None:
        """Merge `changes` into the tenant's settings under a write lock taken before the read.

        An install's follow-up jobs run at once on different workers and each adds its own key (verified_at,
        webhook_subscriptions, leadrelay_fields, backfill); a plain read-modify-write let the later commit drop
        the other's key, and the onboarding step it records never showed done."""
        # a no-op UPDATE first: PostgreSQL locks the row, SQLite takes its write lock; the read below then sees the
        # last committed settings and nobody can commit others until this transaction does
        session.execute(update(cls).where(cls.id == tenant_id).values(id=cls.id))
        tenant = session.get(cls, tenant_id, populate_existing=True)
        if tenant is not None:
            tenant.settings = {**(tenant.settings or {}), **changes}
        return tenant


class Credential(TenantScoped, TimestampMixin, Base):
    """OAuth tokens of a tenant, encrypted at rest (ciphertext only; see oauth/tokens.py)."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_token_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    scopes: Mapped[str] = mapped_column(String(1000), nullable=False, default="")


class ConsoleUser(TimestampMixin, Base):
    """A person who signs in to the console; keyed by the CRM identity they first signed in with.

    The identity is (platform, CRM account, CRM user id): never the email, which any CRM user can set to
    anything in their own account. More identities of the same person are linked explicitly (ConsoleIdentity).
    """

    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("platform", "external_account_id", "external_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    external_account_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    external_user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False, index=True)  # as the CRM claims: display only
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id", ondelete="SET NULL"), nullable=True,
                                                  index=True)
    # "admin" (manages every tenant of the agency) or "viewer"; None when not in an agency
    agency_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConsoleIdentity(TimestampMixin, Base):
    """A further CRM identity the same person linked to their console user (signed in through it while in)."""

    __tablename__ = "console_identities"
    __table_args__ = (UniqueConstraint("platform", "external_account_id", "external_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    external_account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    external_user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False, default="")


class ConsoleSession(Base):
    """One signed-in browser: the cookie carries a random id whose hash is the key; logout revokes the row."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's session id
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Invitation(TimestampMixin, Base):
    """A pending grant of a role, to a tenant (tenant_id) or to an agency's team (agency_id).

    Accepted once, before it expires, by a sign-in through the tenant's own CRM account with the invited email,
    or by whoever opens the single-use link the inviting admin passed on. Only the link's hash is stored.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False, index=True)  # lowercased
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"),
                                                   nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"),
                                                    nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def open(self, now: dt.datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class Membership(TenantScoped, TimestampMixin, Base):
    """A console user's access to one tenant, with a role."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False, default="admin")  # "admin" | "viewer"


class AgencyInvite(TimestampMixin, Base):
    """An agency's invitation: installing with it, or a tenant admin accepting it, links the tenant.

    One code serves many client portals (an agency sends the same link to each client) until it expires or an
    agency admin revokes it; every use is a row of AgencyInviteUse. The code itself is kept encrypted so an agency
    admin can copy it again; lookups go by its hash.
    """

    __tablename__ = "agency_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    code_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # from when an invite linked one tenant only (before 0009_console_settings); uses are AgencyInviteUse rows now
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"), nullable=True)

    uses: Mapped[list[AgencyInviteUse]] = relationship(order_by="AgencyInviteUse.used_at",
                                                       cascade="all, delete-orphan")

    def refusal(self, now: dt.datetime) -> str | None:
        """Why the invite cannot link a portal now, in words for the person who typed it; None when it can."""
        if self.revoked_at is not None:
            return "That invite code was revoked by the agency: ask them for a new one."
        if self.expires_at <= now:
            return "That invite code has expired: ask the agency for a new one."
        return None


class AgencyInviteUse(Base):
    """One client portal linked with an invite: who, when, and the portal as it was named then (kept for the
    agency's record when the portal is later erased)."""

    __tablename__ = "agency_invite_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("agency_invites.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"), nullable=True)
    tenant_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    platform: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"), nullable=True)
    used_by_email: Mapped[str] = mapped_column(String(320), nullable=False, default="")


class DataErasure(Base):
    """Proof that a tenant's data was erased (GDPR-style): what was removed, when, why."""

    __tablename__ = "data_erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)  # kept after the tenant row goes
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    removed: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
