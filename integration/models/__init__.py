"""Storage models. Import from here; Alembic's env imports this to see every table."""
from integration.models.activity import Decision, EventRecord, ReviewItem, SlaTimer
from integration.models.agency_templates import AgencyTemplate
from integration.models.base import Base, TenantScoped, utcnow
from integration.models.capture import IntakeKey, IntakeSubmission
from integration.models.dedup_calibration import DedupCalibration
from integration.models.dedup_index import DedupKey
from integration.models.diagnostics import Probe
from integration.models.intake import SweepCursor, WebhookKey
from integration.models.merges import MergeSnapshot
from integration.models.outreach import AutomationHold, InboundMessageRow, LeadConversion, OutboundMessage
from integration.models.rules import RuleSetVersion
from integration.models.tenancy import (
    Agency,
    AgencyInvite,
    AgencyInviteUse,
    ConsoleIdentity,
    ConsoleSession,
    ConsoleUser,
    Credential,
    DataErasure,
    Invitation,
    Membership,
    Tenant,
    TenantStatus,
)

__all__ = [
    "Agency", "AgencyInvite", "AgencyInviteUse", "AgencyTemplate", "AutomationHold", "Base", "ConsoleIdentity",
    "ConsoleSession", "ConsoleUser", "Credential", "DataErasure", "Decision", "DedupCalibration", "DedupKey",
    "EventRecord", "InboundMessageRow", "IntakeKey", "IntakeSubmission", "Invitation", "LeadConversion", "Membership",
    "MergeSnapshot", "OutboundMessage", "Probe", "ReviewItem", "RuleSetVersion", "SlaTimer", "SweepCursor", "Tenant",
    "TenantScoped", "TenantStatus", "utcnow", "WebhookKey",
]
