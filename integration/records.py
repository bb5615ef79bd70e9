"""Neutral types that cross the adapter boundary. No platform field name or SDK type appears here."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ObjectType(StrEnum):
    """LeadRelay's object vocabulary; each adapter maps it to the platform's objects."""

    LEAD = "lead"          # Salesforce Lead, Pipedrive lead
    CONTACT = "contact"    # HubSpot contact, Salesforce Contact, Pipedrive person
    COMPANY = "company"    # HubSpot company, Salesforce Account, Pipedrive organization
    DEAL = "deal"          # HubSpot deal, Salesforce Opportunity, Pipedrive deal
    TASK = "task"          # HubSpot task, Salesforce Task, Pipedrive activity


class EventKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    MERGED = "merged"
    RESTORED = "restored"
    # created or updated, the platform's notification does not say which (an Outbound Message without the date
    # fields): whoever needs to know decides from the record, which the pipeline reads anyway (new_leads)
    CHANGED = "changed"


# Neutral field names a Record may carry in `fields` (adapters map to and from the platform's).
FIELDS = ("email", "first_name", "last_name", "phone", "mobile", "company", "title", "website", "domain",
          "street", "city", "state", "postcode", "country", "source", "lifecycle_stage", "lead_status",
          "language", "deal_stage", "deal_status", "amount", "name",
          # consent: the platform's email opt-out (HubSpot hs_email_optout, Salesforce HasOptedOutOfEmail, Pipedrive
          # marketing_status unsubscribed) and do-not-call (Salesforce DoNotCall); read-only where the platform has
          # its own way to set them (CRMAdapter.set_do_not_contact)
          "email_opt_out", "do_not_call",
          # LeadRelay's own fields, created at install (ensure_custom_fields) for the customer's workflows
          "leadrelay_score", "leadrelay_tier", "leadrelay_rule", "leadrelay_reason", "leadrelay_duplicate_of",
          "leadrelay_lifecycle", "leadrelay_enriched", "leadrelay_email_type", "leadrelay_timezone")


@dataclass(frozen=True)
class Record:
    """One CRM record in neutral terms."""

    object_type: str
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    owner_id: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    company_id: str | None = None  # the associated company/account/organization, when known
    contact_ids: tuple[str, ...] = ()  # a deal's contacts/persons, when the adapter reads them
    extra_emails: tuple[str, ...] = ()
    extra_phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class CRMUser:
    """An owner a record can be assigned to."""

    id: str
    email: str
    name: str
    active: bool = True
    timezone: str | None = None
    manager_id: str | None = None


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    domain: str | None = None
    owner_id: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A task (HubSpot task / Salesforce Task / Pipedrive activity) to create for an owner."""

    subject: str
    body: str
    due_at: dt.datetime
    owner_id: str
    record_type: str
    record_id: str
    kind: str = "call"  # "call" | "email" | "todo"
    priority: str = "high"  # "high" | "medium" | "low"


@dataclass(frozen=True)
class OwnerWrite:
    """One record's new owner, with LeadRelay's fields in the same write (CRMAdapter.set_owners)."""

    record_id: str
    owner_id: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewRecord:
    """One record to create (CRMAdapter.create_records): neutral fields, owned by `owner_id` when given, linked to
    the company/account/organization `company_id` in the same create where the object has such a link."""

    fields: dict[str, Any]
    owner_id: str | None = None
    company_id: str | None = None


@dataclass(frozen=True)
class TaskState:
    id: str
    done: bool
    owner_id: str | None = None
    due_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


@dataclass(frozen=True)
class MergeResult:
    survivor_id: str
    merged_ids: tuple[str, ...]


@dataclass(frozen=True)
class ChangePage:
    """Records changed since a cursor, oldest first; pass `cursor` back to continue."""

    records: list[Record]
    cursor: str
    has_more: bool


@dataclass(frozen=True)
class Event:
    """A webhook notification in neutral terms (the tenant is resolved by the web layer)."""

    platform: str
    account_id: str          # the CRM account the event is for (portal / org / company id)
    object_type: str
    object_id: str
    kind: str
    occurred_at: dt.datetime | None  # None: the platform did not say; intake stamps the moment it arrived
    event_id: str            # the platform's delivery-unique id (or a stable digest of the payload)
    source: str = ""         # the platform's change source ("CRM_UI", "INTEGRATION", "api", user id …)
    source_is_app: bool = False  # the platform says this change was made by our own app
    changed_fields: tuple[str, ...] = ()
    merged_ids: tuple[str, ...] = ()
    tenant_id: int | None = None


@dataclass(frozen=True)
class Message:
    """A message LeadRelay sent to a lead (or one the lead sent), to log on the record (`CRMAdapter.log_message`):
    HubSpot an email engagement (SMS: a communication), Salesforce a completed Task (subtype Email), Pipedrive a
    done activity."""

    channel: str  # "email" | "sms"
    direction: str  # "outbound" | "inbound"
    subject: str  # an email's subject; an SMS's first words
    body: str  # plain text
    sent_at: dt.datetime
    to: str  # the lead's address or E.164 number (inbound: ours)
    sender: str  # the From address or number
    owner_id: str | None = None  # the record's owner: the activity is theirs where the platform asks for one


@dataclass(frozen=True)
class InboundMessage:
    """A message from a lead logged in the CRM after LeadRelay's cursor (`CRMAdapter.inbound_since`): a reply
    the CRM's email sync logged (HubSpot incoming email engagement, Salesforce incoming EmailMessage, Pipedrive
    mailbox message), or an SMS the provider posted to LeadRelay."""

    id: str  # the platform's id of the message (its idempotency key, with the platform)
    channel: str  # "email" | "sms"
    object_type: str  # the lead object it is about (ObjectType); "" when the platform linked it to none
    record_id: str  # "" when the platform linked it to no record LeadRelay knows (then `sender` tells who)
    sender: str  # the From address (lower case) or E.164 number
    subject: str
    text: str  # plain text, quoted history removed where the platform says where it starts
    received_at: dt.datetime


@dataclass(frozen=True)
class InboundPage:
    """Inbound messages after a cursor, oldest first; pass `cursor` back to continue."""

    messages: list[InboundMessage]
    cursor: str
    has_more: bool


@dataclass(frozen=True)
class Meeting:
    """A meeting logged on a lead-object record (HubSpot meeting engagement, Salesforce Event, Pipedrive activity of
    type meeting), for the conversion KPIs: lead → meeting."""

    id: str
    object_type: str
    record_id: str
    at: dt.datetime  # when it was logged (created)


@dataclass(frozen=True)
class MeetingPage:
    meetings: list[Meeting]
    cursor: str
    has_more: bool
