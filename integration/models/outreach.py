"""First response and handoff: what LeadRelay sent to each lead (the outbox), what leads sent back (the inbox),
which leads automation must leave alone (holds), and the conversions the KPIs count."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.models.base import Base, TenantScoped, UTCDateTime, utcnow

# OutboundMessage.status
SENDING, SENT, SKIPPED, FAILED = "sending", "sent", "skipped", "failed"
# AutomationHold.kind: skip_automation (a referral, a customer: no message, no cadence), stop (stop_cadence: nothing
# automated any more), do_not_contact (an opt-out: nothing at all, and the CRM marked), paused (pause_cadence: the
# cadence's planned steps cancelled; a later first response or cadence is still allowed)
HOLD_KINDS = ("skip_automation", "stop", "do_not_contact", "paused")
# LeadConversion.kind
MEETING, DEAL, WON = "meeting", "deal", "won"


class OutboundMessage(TenantScoped, Base):
    """One acknowledgment LeadRelay sent, or decided not to send (status skipped, with the reason): the outbox.

    `key` (`ack:<object_type>:<id>:<channel>`) makes the send exactly-once per lead and channel: a retried job
    finds the row and never sends twice."""

    __tablename__ = "outbound_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "key"), Index("ix_outbound_messages_tenant_created",
                                                                  "tenant_id", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # email | sms
    sender: Mapped[str] = mapped_column(String(16), nullable=False, default="")  # smtp | crm | sms
    tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    template: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=SENDING)
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)  # a skip's or failure's word
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the sentence a human reads
    to_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    from_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    crm_log_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the engagement/Task/activity
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the lead's source label (KPIs)
    record_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InboundMessageRow(TenantScoped, Base):
    """One message from a lead LeadRelay read (a reply logged in the CRM, an SMS the provider posted), once:
    `key` is `<channel>:<platform's id>`; `outcome` keeps what the handoff rules made of it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "key"), Index("ix_inbound_messages_tenant_received",
                                                                  "tenant_id", "received_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    object_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    sender: Mapped[str] = mapped_column(String(320), nullable=False, default="")
    subject: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class AutomationHold(TenantScoped, Base):
    """A lead automation must leave alone, and why (HOLD_KINDS): first response, cadences and reactivation read it
    before they act. One row per lead and kind."""

    __tablename__ = "automation_holds"
    __table_args__ = (UniqueConstraint("tenant_id", "object_type", "object_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    rule: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the handoff rule that set it
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class LeadConversion(TenantScoped, Base):
    """A lead's first meeting logged, first deal, first deal won (MEETING, DEAL, WON): once each, for the
    conversion KPIs by source and routing path (the route decision of the same lead says which)."""

    __tablename__ = "lead_conversions"
    __table_args__ = (UniqueConstraint("tenant_id", "object_type", "object_id", "kind"),
                      Index("ix_lead_conversions_tenant_at", "tenant_id", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    ref_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the deal's or meeting's id
