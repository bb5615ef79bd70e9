"""HubSpot object types, default properties and association type ids."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type as the v3 objects API knows it."""

    name: str                      # plural path segment, e.g. "contacts"
    singular: str                  # event prefix, e.g. "contact"
    type_id: str                   # objectTypeId, e.g. "0-1"
    defaults: tuple[str, ...]      # properties returned when `properties=` is absent
    searchable: tuple[str, ...]    # properties the search `query` matches
    known: frozenset[str] = field(default_factory=frozenset)
    required: tuple[str, ...] = ()
    legacy_webhooks: bool = False  # contact.* / company.* / deal.*; others use object.*


# hs_object_source / hs_object_source_id: the "Record source" HubSpot stamps on every object it creates (INTEGRATION
# and the app id for an app's token, CRM_UI and the user for a rep's, API for a token of no app), read-only
_SYSTEM = {"hs_object_id", "createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate",
           "hubspot_owner_id", "hs_merged_object_ids", "notes_last_updated", "hs_object_source",
           "hs_object_source_id"}
_ENGAGEMENT = {"hs_timestamp", "hubspot_owner_id", "hs_body_preview"}

TYPES: dict[str, ObjectType] = {t.name: t for t in (
    ObjectType("contacts", "contact", "0-1",
               ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
               ("email", "firstname", "lastname", "phone", "mobilephone", "company", "hs_additional_emails"),
               frozenset(_SYSTEM | {"email", "firstname", "lastname", "phone", "mobilephone", "company",
                                    "jobtitle", "website", "lifecyclestage", "hs_lead_status", "city",
                                    "state", "country", "zip", "address", "hs_additional_emails",
                                    "hs_timezone", "associatedcompanyid", "hs_email_domain",
                                    "hs_email_optout"}),
               legacy_webhooks=True),
    ObjectType("companies", "company", "0-2",
               ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
               ("name", "domain", "website", "phone"),
               frozenset(_SYSTEM | {"name", "domain", "website", "phone", "industry", "city", "state",
                                    "country", "numberofemployees", "annualrevenue", "lifecyclestage",
                                    "description", "hs_additional_domains"}),
               legacy_webhooks=True),
    ObjectType("deals", "deal", "0-3",
               ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
                "hs_object_id", "pipeline"),
               ("dealname",),
               frozenset(_SYSTEM | {"dealname", "amount", "dealstage", "pipeline", "closedate",
                                    "description"}),
               legacy_webhooks=True),
    ObjectType("tasks", "task", "0-27",
               ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_task_subject", "hs_task_body"),
               frozenset(_SYSTEM | _ENGAGEMENT | {"hs_task_subject", "hs_task_body", "hs_task_status",
                                                  "hs_task_priority", "hs_task_type", "hs_task_reminders",
                                                  "hs_task_completion_date", "hs_task_is_completed"}),
               required=("hs_timestamp",)),
    ObjectType("calls", "call", "0-48", ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_call_title", "hs_call_body"),
               frozenset(_SYSTEM | _ENGAGEMENT | {"hs_call_title", "hs_call_body", "hs_call_status",
                                                  "hs_call_direction", "hs_call_duration",
                                                  "hs_call_disposition"}),
               required=("hs_timestamp",)),
    ObjectType("emails", "email", "0-49", ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_email_subject",),
               frozenset(_SYSTEM | _ENGAGEMENT | {"hs_email_subject", "hs_email_text", "hs_email_direction",
                                                  "hs_email_status", "hs_email_headers", "hs_email_html"}),
               required=("hs_timestamp",)),
    ObjectType("meetings", "meeting", "0-47", ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_meeting_title",),
               frozenset(_SYSTEM | _ENGAGEMENT | {"hs_meeting_title", "hs_meeting_body",
                                                  "hs_meeting_start_time", "hs_meeting_end_time",
                                                  "hs_meeting_outcome"}),
               required=("hs_timestamp",)),
    # https://developers.hubspot.com/docs/api/crm/communications (SMS, WhatsApp, LinkedIn messages logged on records)
    ObjectType("communications", "communication", "0-18", ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_communication_body",),
               frozenset(_SYSTEM | _ENGAGEMENT | {"hs_communication_channel_type", "hs_communication_logged_from",
                                                  "hs_communication_body"})),
    ObjectType("notes", "note", "0-46", ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_note_body",),
               frozenset(_SYSTEM | _ENGAGEMENT | {"hs_note_body"}),
               required=("hs_timestamp",)),
    ObjectType("leads", "lead", "0-136", ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
               ("hs_lead_name",),
               frozenset(_SYSTEM | {"hs_lead_name", "hs_pipeline", "hs_pipeline_stage", "hs_lead_type",
                                    "hs_lead_label"})),
)}

ALIASES = {**{t.type_id: t.name for t in TYPES.values()}, **{t.singular: t.name for t in TYPES.values()}}
ENGAGEMENTS = ("tasks", "calls", "emails", "meetings", "notes", "communications")
# record types whose association to a contact/company/deal bumps "Last activity date" (notes_last_updated)
ACTIVITY_TYPES = ("calls", "emails", "meetings", "notes")
MERGEABLE = ("contacts", "companies", "deals", "leads")


def object_type(name: str) -> ObjectType | None:
    """Resolve "contacts", "contact" or "0-1" to the object type."""
    name = (name or "").lower()
    return TYPES.get(ALIASES.get(name, name))


# Default (HUBSPOT_DEFINED, unlabeled) association type ids, from → to.
# https://developers.hubspot.com/docs/api-reference/latest/crm/associations/overview (279 contact→company);
# the rest follow HubSpot's "association type ID values" table
# (https://developers.hubspot.com/docs/guides/api/crm/associations/associations-v4#association-type-id-values).
# The leads pair (578/579) is UNCONFIRMED.
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("contacts", "calls"): 193, ("calls", "contacts"): 194,
    ("contacts", "emails"): 197, ("emails", "contacts"): 198,
    ("contacts", "meetings"): 199, ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201, ("notes", "contacts"): 202,
    ("contacts", "tasks"): 203, ("tasks", "contacts"): 204,
    ("companies", "calls"): 181, ("calls", "companies"): 182,
    ("companies", "emails"): 185, ("emails", "companies"): 186,
    ("companies", "meetings"): 187, ("meetings", "companies"): 188,
    ("companies", "notes"): 189, ("notes", "companies"): 190,
    ("companies", "tasks"): 191, ("tasks", "companies"): 192,
    ("deals", "calls"): 205, ("calls", "deals"): 206,
    ("deals", "emails"): 209, ("emails", "deals"): 210,
    ("deals", "meetings"): 211, ("meetings", "deals"): 212,
    ("deals", "notes"): 213, ("notes", "deals"): 214,
    ("deals", "tasks"): 215, ("tasks", "deals"): 216,
    # communication <-> contact 81/82 (https://developers.hubspot.com/docs/api/crm/communications)
    ("communications", "contacts"): 81, ("contacts", "communications"): 82,
    ("leads", "contacts"): 578, ("contacts", "leads"): 579,
}
# labeled "Primary" variants that HubSpot also accepts
PRIMARY_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1, ("companies", "contacts"): 2,
    ("deals", "companies"): 5, ("companies", "deals"): 6,
}


def association_type_for(from_type: str, to_type: str, type_id: int) -> tuple[str, str] | None:
    """The (from, to) pair a type id belongs to, if it is one we know for this pair."""
    pair = (from_type, to_type)
    if ASSOCIATION_TYPES.get(pair) == type_id or PRIMARY_TYPES.get(pair) == type_id:
        return pair
    return None


def association_label(from_type: str, to_type: str, type_id: int) -> str:
    """The v3 `type` name shown under `associations=` (e.g. "contact_to_company")."""
    base = f"{TYPES[from_type].singular}_to_{TYPES[to_type].singular}"
    if PRIMARY_TYPES.get((from_type, to_type)) == type_id:
        return base
    if (from_type, to_type) in PRIMARY_TYPES:
        return f"{base}_unlabeled"
    return base
