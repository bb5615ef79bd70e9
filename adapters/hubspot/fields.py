"""HubSpot's object and property names <-> LeadRelay's neutral vocabulary (integration.records).

Property names: https://developers.hubspot.com/docs/api/crm/contacts (default contact properties),
https://developers.hubspot.com/docs/api/crm/tasks (task properties and association type ids).
Nothing here talks to the network; adapter.py and webhooks.py use these tables.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from integration.errors import CRMValidationError
from integration.protocols import parse_iso
from integration.records import Company, ObjectType, Record

# neutral object type -> HubSpot object (path segment). HubSpot's own "leads" object is not used for
# routing: LeadRelay routes contacts, so a neutral "lead" is a contact.
OBJECTS: dict[str, str] = {ObjectType.CONTACT: "contacts", ObjectType.LEAD: "contacts",
                           ObjectType.COMPANY: "companies", ObjectType.DEAL: "deals", ObjectType.TASK: "tasks"}
# HubSpot object -> the neutral type events and records are reported as
NEUTRAL: dict[str, str] = {"contacts": ObjectType.CONTACT, "companies": ObjectType.COMPANY,
                           "deals": ObjectType.DEAL, "tasks": ObjectType.TASK}
# where each object's API lives on the SDK client (hubspot.HubSpot().crm....)
SDK_PATHS: dict[str, tuple[str, ...]] = {
    "contacts": ("crm", "contacts"), "companies": ("crm", "companies"), "deals": ("crm", "deals"),
    "tasks": ("crm", "objects", "tasks"), "calls": ("crm", "objects", "calls"),
    "emails": ("crm", "objects", "emails"), "meetings": ("crm", "objects", "meetings"),
    "notes": ("crm", "objects", "notes"), "owners": ("crm", "owners"), "properties": ("crm", "properties"),
}
# objectTypeId as generic (object.*) webhooks send it -> HubSpot's singular object name
OBJECT_TYPE_IDS: dict[str, str] = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-27": "task",
                                   "0-46": "note", "0-47": "meeting", "0-48": "call", "0-49": "email",
                                   "0-136": "lead"}

OWNER_PROPERTY = "hubspot_owner_id"
OWNER_FIELD = "owner"  # the neutral name reported to the write log / in changed_fields
ADDITIONAL_EMAILS = "hs_additional_emails"
PRIMARY_COMPANY = "associatedcompanyid"  # HubSpot keeps a contact's primary company id here
LAST_ACTIVITY = "notes_last_updated"     # "Last activity date": bumped when a call/email/meeting/note is logged

# LeadRelay's own contact properties (created at install by ensure_custom_fields, in group "leadrelay"):
# (name = neutral name, label, type, fieldType) https://developers.hubspot.com/docs/api/crm/properties
PROPERTY_GROUP = ("leadrelay", "LeadRelay")
CUSTOM_PROPERTIES: tuple[tuple[str, str, str, str], ...] = (
    ("leadrelay_score", "LeadRelay score", "number", "number"),
    ("leadrelay_tier", "LeadRelay tier", "string", "text"),
    ("leadrelay_rule", "LeadRelay routing rule", "string", "text"),
    ("leadrelay_reason", "LeadRelay reason", "string", "textarea"),
    ("leadrelay_duplicate_of", "LeadRelay duplicate of", "string", "text"),
    # enrichment (integration/enrich): what was filled and from where, the email's type, the IANA time zone
    ("leadrelay_enriched", "LeadRelay enriched", "string", "textarea"),
    ("leadrelay_email_type", "LeadRelay email type", "string", "text"),
    ("leadrelay_timezone", "LeadRelay time zone", "string", "text"),
)
CUSTOM_NAMES = tuple(p[0] for p in CUSTOM_PROPERTIES)

# neutral field -> HubSpot property, per object
PROPERTIES: dict[str, dict[str, str]] = {
    "contacts": {"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone",
                 "mobile": "mobilephone", "company": "company", "title": "jobtitle", "website": "website",
                 "domain": "hs_email_domain", "street": "address", "city": "city", "state": "state",
                 "postcode": "zip", "country": "country", "lifecycle_stage": "lifecyclestage",
                 "lead_status": "hs_lead_status", "email_opt_out": "hs_email_optout",
                 **{name: name for name in CUSTOM_NAMES}},
    "companies": {"name": "name", "domain": "domain", "website": "website", "phone": "phone", "city": "city",
                  "state": "state", "country": "country", "lifecycle_stage": "lifecyclestage"},
    "deals": {"name": "dealname", "amount": "amount", "deal_stage": "dealstage"},
    "tasks": {"subject": "hs_task_subject", "body": "hs_task_body", "due_at": "hs_timestamp",
              "status": "hs_task_status", "priority": "hs_task_priority", "kind": "hs_task_type",
              "completed_at": "hs_task_completion_date"},
}
# deal stage ids of the default pipeline that close a deal; every other stage reads as open (custom pipelines'
# closed stages are not known here: the pipelines API is not read yet)
DEAL_STAGE_STATUS: dict[str, str] = {"closedwon": "won", "closedlost": "lost"}
# properties HubSpot calculates when we write another one (their change events are echoes of our write)
DERIVED: dict[str, dict[str, tuple[str, ...]]] = {"contacts": {"email": ("domain",)},
                                                  "tasks": {"status": ("completed_at",)}}
# The search API names the contact's modification time differently from every other object
# (https://developers.hubspot.com/docs/api/crm/search: "lastmodifieddate" for contacts).
MODIFIED: dict[str, str] = {"contacts": "lastmodifieddate"}
DEFAULT_MODIFIED = "hs_lastmodifieddate"

# task -> record association type ids (HUBSPOT_DEFINED), from HubSpot's association type id table:
# https://developers.hubspot.com/docs/guides/api/crm/associations/associations-v4#association-type-id-values
TASK_ASSOCIATIONS: dict[str, int] = {"contacts": 204, "companies": 192, "deals": 216}
NOTE_ASSOCIATIONS: dict[str, int] = {"contacts": 202, "companies": 190, "deals": 214}
TASK_TYPES = {"call": "CALL", "email": "EMAIL", "todo": "TODO"}
TASK_PRIORITIES = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
TASK_DONE = "COMPLETED"
TASK_OPEN = "NOT_STARTED"
# objects with a native merge (POST /crm/v3/objects/{object}/merge)
MERGEABLE = ("contacts", "companies", "deals")
# activities whose logging counts as "the rep acted" (SLA check)
ACTIVITY_OBJECTS = ("calls", "emails", "meetings")


def hubspot_object(object_type: str) -> str:
    """The HubSpot object for a neutral type; CRMValidationError for a type HubSpot has no mapping for."""
    try:
        return OBJECTS[object_type]
    except KeyError:
        raise CRMValidationError(f"HubSpot adapter has no object for {object_type!r}") from None


def neutral_type(object_type: str) -> str:
    """The neutral type records and write-log entries use (a "lead" is a contact on HubSpot)."""
    return NEUTRAL[hubspot_object(object_type)]


def modified_property(hs_object: str) -> str:
    return MODIFIED.get(hs_object, DEFAULT_MODIFIED)


def read_properties(hs_object: str) -> list[str]:
    """Everything a Record needs, asked for explicitly (HubSpot returns only defaults otherwise)."""
    extra = [OWNER_PROPERTY, "createdate", modified_property(hs_object)]
    if hs_object == "contacts":
        extra += [ADDITIONAL_EMAILS, PRIMARY_COMPANY]
    return list(dict.fromkeys([*PROPERTIES[hs_object].values(), *extra]))


def to_properties(hs_object: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """Neutral fields -> HubSpot properties (every value a string; None clears)."""
    mapping = PROPERTIES[hs_object]
    unknown = sorted(set(fields) - set(mapping))
    if unknown:
        raise CRMValidationError(f"HubSpot {hs_object} have no property for {', '.join(unknown)}")
    return {mapping[name]: _property_value(hs_object, name, value) for name, value in fields.items()}


def _property_value(hs_object: str, name: str, value: Any) -> str:
    if value is None:
        return ""
    return task_body_html(str(value)) if (hs_object, name) in HTML_FIELDS else str(value)


# Properties HubSpot renders as HTML: the task body ("notes" in the task's panel,
# https://developers.hubspot.com/docs/api/crm/tasks). A neutral body is plain text and may quote lead fields.
HTML_FIELDS = frozenset({("tasks", "body")})


def writable_fields(hs_object: str) -> frozenset[str]:
    """The neutral fields a create or update of `hs_object` takes (calculated ones left out)."""
    return frozenset(PROPERTIES[hs_object]) - CALCULATED.get(hs_object, frozenset())
_BARE_AMPERSAND = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});)")


# an http(s) URL in escaped text: it ends at white space, a quote or an escaped < > (never inside a tag)
_URL = re.compile(r"https?://(?:(?!&lt;|&gt;)[^\s<>\"'])+")


def task_body_html(text: str) -> str:
    """Plain text as HubSpot's hs_task_body: <, > and bare & escaped, so a lead named <img onerror=…> is text;
    line breaks as <br> and http(s) URLs as links, since HubSpot shows the body as rich text, where a bare newline
    is not a reliable line break (https://community.hubspot.com/t5/APIs-Integrations/Rendering-HTML-and-escaped-text-properly-in-rich-text-fields/td-p/1231561).

    An existing entity (&amp;, &#60;) is kept: a body read back from HubSpot and written again (a closing note
    appended) is not escaped twice.
    """
    escaped = _BARE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return linked.replace("\r\n", "\n").replace("\n", "<br>")


def append_task_note(body_html: str, note: str) -> str:
    """A closing note appended to a task body as HubSpot returned it (HTML, perhaps edited by a rep, so kept as
    it is); the result goes into the property as such, not through to_properties."""
    return f"{body_html}<br><br>{task_body_html(note)}" if body_html else task_body_html(note)


# neutral fields HubSpot calculates itself (read-only properties): a create leaves them out
# hs_email_optout ("Unsubscribed from all email") is read-only: only the communication preferences API sets it
CALCULATED: dict[str, frozenset[str]] = {"contacts": frozenset({"domain", "email_opt_out"}),
                                         "deals": frozenset({"deal_status"})}


def create_properties(hs_object: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """Properties for a new record: empty values and calculated properties left out."""
    kept = {k: v for k, v in fields.items()
            if v not in (None, "") and k not in CALCULATED.get(hs_object, frozenset())}
    return to_properties(hs_object, kept)


def written_fields(hs_object: str, names: list[str]) -> list[str]:
    """The neutral fields a write of `names` changes, including ones HubSpot derives from them."""
    derived = DERIVED.get(hs_object, {})
    return list(dict.fromkeys([*names, *(d for n in names for d in derived.get(n, ()))]))


def neutral_field(hs_object: str, prop: str) -> str | None:
    """The neutral name of a HubSpot property (None when LeadRelay does not track it)."""
    if prop == OWNER_PROPERTY:
        return OWNER_FIELD
    return next((name for name, hs in PROPERTIES.get(hs_object, {}).items() if hs == prop), None)


def ms(moment: dt.datetime) -> int:
    """HubSpot's epoch-milliseconds form of a datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def to_record(hs_object: str, obj: Any, company_id: str | None = None, contact_ids: tuple[str, ...] = ()) -> Record:
    """An SDK SimplePublicObject -> Record with neutral fields only."""
    props: dict[str, Any] = obj.properties or {}
    fields = {name: props[hs] for name, hs in PROPERTIES[hs_object].items() if props.get(hs) not in (None, "")}
    if hs_object == "deals" and fields.get("deal_stage"):
        fields["deal_status"] = deal_status(fields["deal_stage"])
    if "email_opt_out" in fields:  # HubSpot answers every property as text: a flag is a bool, as on the other CRMs
        fields["email_opt_out"] = str(fields["email_opt_out"]).strip().lower() == "true"
    extra = tuple(e for e in (props.get(ADDITIONAL_EMAILS) or "").split(";") if e)
    return Record(object_type=NEUTRAL[hs_object], id=str(obj.id), fields=fields,
                  owner_id=props.get(OWNER_PROPERTY) or None, created_at=created_date(props, obj),
                  updated_at=_utc(obj.updated_at), company_id=company_id or props.get(PRIMARY_COMPANY) or None,
                  extra_emails=extra, contact_ids=contact_ids)


def deal_status(stage: str) -> str:
    """open / won / lost from the deal stage id of HubSpot's default sales pipeline.

    https://knowledge.hubspot.com/object-settings/set-up-and-customize-pipelines (closedwon, closedlost)
    """
    return DEAL_STAGE_STATUS.get(stage, "open")


def created_date(props: Mapping[str, Any], obj: Any) -> dt.datetime | None:
    """The record's created date as HubSpot shows it (the `createdate` property, which an import can set to an
    earlier date), else the object's createdAt; UTC. Routing compares it with the go-live
    (integration.pipeline.new_leads)."""
    return parse_iso(props.get("createdate")) or _utc(obj.created_at)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """The SDK parses timestamps with dateutil (tzutc/tzlocal); records carry stdlib UTC (HubSpot's are UTC, so a
    timestamp without a zone is UTC too)."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def associated_company(obj: Any) -> str | None:
    """The first associated company id of a record read with associations=["companies"]."""
    block = (obj.associations or {}).get("companies") if getattr(obj, "associations", None) else None
    results = getattr(block, "results", None) or []
    return str(results[0].id) if results else None


def associated_ids(obj: Any, hs_object: str) -> tuple[str, ...]:
    """Every associated id of one type on a record read with associations=[hs_object] (deduplicated)."""
    block = (obj.associations or {}).get(hs_object) if getattr(obj, "associations", None) else None
    return tuple(dict.fromkeys(str(r.id) for r in getattr(block, "results", None) or []))


def to_company(obj: Any) -> Company:
    props = obj.properties or {}
    return Company(id=str(obj.id), name=props.get("name") or "", domain=props.get("domain") or None,
                   owner_id=props.get(OWNER_PROPERTY) or None)


def modified_ms(hs_object: str, obj: Any) -> int:
    """The record's modification time in ms (the changed_since cursor)."""
    stamp = parse_iso((obj.properties or {}).get(modified_property(hs_object))) or obj.updated_at
    return ms(stamp)
