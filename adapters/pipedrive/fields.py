"""Neutral object types and field names <-> Pipedrive's objects and fields.

Persons, organizations, deals and activities are read and written in API v2 shape
(https://developers.pipedrive.com/docs/api/v2: emails/phones as lists of {value, primary, label}, owner_id,
ISO times, custom fields under `custom_fields`); leads only exist in API v1
(https://developers.pipedrive.com/docs/api/v1/Leads). Pipedrive has no standard lifecycle-stage, source or
language field on persons: a tenant maps those neutral names to its custom field keys in the tenant setting
"custom_fields" ({"lifecycle_stage": "<40-char key>"}), or they are refused.
"""
from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from typing import Any

from integration.errors import CRMValidationError
from integration.protocols import parse_iso
from integration.records import ObjectType, Record

# neutral object type -> Pipedrive API path segment
OBJECTS: dict[str, str] = {ObjectType.CONTACT: "persons", ObjectType.COMPANY: "organizations",
                           ObjectType.DEAL: "deals", ObjectType.TASK: "activities", ObjectType.LEAD: "leads"}
V1_ONLY = frozenset({"leads"})
# webhook meta.entity -> neutral object type
ENTITIES: dict[str, str] = {"person": ObjectType.CONTACT, "organization": ObjectType.COMPANY,
                            "deal": ObjectType.DEAL, "activity": ObjectType.TASK, "lead": ObjectType.LEAD}
# the activity filter that ties an activity to a record (GET /api/v2/activities?person_id=...)
ACTIVITY_LINK: dict[str, str] = {ObjectType.CONTACT: "person_id", ObjectType.COMPANY: "org_id",
                                 ObjectType.DEAL: "deal_id", ObjectType.LEAD: "lead_id"}
TASK_TYPES = {"call": "call", "email": "email", "todo": "task"}
LOGGED_ACTIVITY_TYPES = frozenset({"call", "email", "meeting"})
# The subject prefix of the activities log_message makes: activity_logged_since skips them (Pipedrive activities
# have no source or direction field to tell LeadRelay's from a rep's)
LOGGED_PREFIX = "[LeadRelay]"
UNSUBSCRIBED = "unsubscribed"
OWNER_FIELD = "owner"  # neutral name reported to the write log and in changed_fields
COMPANY_LINK = {"persons": "org_id", "deals": "org_id", "leads": "organization_id", "organizations": None}

# neutral field -> top-level Pipedrive field, per object (emails/phones/names/address handled below)
SIMPLE: dict[str, dict[str, str]] = {
    "persons": {"name": "name"},
    "organizations": {"name": "name"},
    "deals": {"name": "title", "deal_stage": "stage_id", "deal_status": "status", "amount": "value"},
    "leads": {"name": "title"},
    "activities": {"name": "subject"},
}
# LeadRelay's own person fields (POST /v1/personFields at install): neutral name -> (field name, field_type).
# Pipedrive keys them by a 40-character hash; the install job keeps the keys in the tenant's settings.
LEADRELAY_FIELDS: dict[str, tuple[str, str]] = {
    "leadrelay_score": ("LeadRelay score", "double"), "leadrelay_tier": ("LeadRelay tier", "varchar"),
    "leadrelay_rule": ("LeadRelay routing rule", "varchar"), "leadrelay_reason": ("LeadRelay reason", "varchar"),
    "leadrelay_duplicate_of": ("LeadRelay duplicate of", "varchar"),
    "leadrelay_lifecycle": ("LeadRelay lifecycle", "varchar"),
    "leadrelay_enriched": ("LeadRelay enriched", "varchar"),
    "leadrelay_email_type": ("LeadRelay email type", "varchar"),
    "leadrelay_timezone": ("LeadRelay time zone", "varchar")}
ADDRESS = {"street": "route", "city": "locality", "state": "admin_area_level_1", "postcode": "postal_code",
           "country": "country"}


def api_object(object_type: str) -> str:
    """The Pipedrive path segment for a neutral object type."""
    try:
        return OBJECTS[object_type]
    except KeyError:
        raise CRMValidationError(f"Pipedrive has no object for {object_type!r}") from None


def neutral_type(api_obj: str) -> str:
    return next(k for k, v in OBJECTS.items() if v == api_obj)


def _primary(items: Any) -> tuple[str | None, tuple[str, ...]]:
    """(primary value, the other values) of a v2 emails/phones list."""
    values = [i for i in items or [] if isinstance(i, dict) and i.get("value")]
    values.sort(key=lambda i: not i.get("primary"))
    found = [str(i["value"]) for i in values]
    return (found[0] if found else None), tuple(found[1:])


def _person_fields(row: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    email, extra_emails = _primary(row.get("emails"))
    phone, extra_phones = _primary(row.get("phones"))
    fields = {"name": row.get("name"), "first_name": row.get("first_name"), "last_name": row.get("last_name"),
              "email": email, "phone": phone}
    if "marketing_status" in row:  # only on companies with Campaigns, and only when include_fields asked for it
        fields["email_opt_out"] = row["marketing_status"] == UNSUBSCRIBED
    return fields, extra_emails, extra_phones


def _org_fields(row: Mapping[str, Any], website_key: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": row.get("name")}
    address = row.get("address") or {}
    fields.update({neutral: address.get(part) for neutral, part in ADDRESS.items()})
    if website_key:
        website = (row.get("custom_fields") or {}).get(website_key)
        fields.update(website=website, domain=domain_of(website))
    return fields


def to_record(api_obj: str, row: Mapping[str, Any], settings: Mapping[str, Any],
              website_key: str | None = None) -> Record:
    """A v2 (or v1 lead) row as a neutral Record; unset values are left out."""
    extra_emails: tuple[str, ...] = ()
    extra_phones: tuple[str, ...] = ()
    if api_obj == "persons":
        fields, extra_emails, extra_phones = _person_fields(row)
    elif api_obj == "organizations":
        fields = _org_fields(row, website_key)
    else:
        fields = {neutral: row.get(pd) for neutral, pd in SIMPLE.get(api_obj, {}).items()}
    if api_obj == "leads":
        fields.update(source=row.get("source_name"), amount=(row.get("value") or {}).get("amount"))
    custom = row.get("custom_fields") or {}
    fields.update({neutral: custom.get(key) for neutral, key in custom_keys(settings).items() if key in custom})
    link = COMPANY_LINK.get(api_obj)
    return Record(object_type=neutral_type(api_obj), id=str(row["id"]),
                  fields={k: v for k, v in fields.items() if v not in (None, "")},
                  owner_id=_id(row.get("owner_id")), created_at=parse_iso(row.get("add_time")),
                  updated_at=parse_iso(row.get("update_time")), company_id=_id(row.get(link)) if link else None,
                  extra_emails=extra_emails, extra_phones=extra_phones,
                  contact_ids=tuple(i for i in (_id(row.get("person_id")),) if i) if api_obj == "deals" else ())


def _id(value: Any) -> str | None:
    if isinstance(value, dict):  # v1 shapes nest references as {"value": id, ...}
        value = value.get("value")
    return None if value in (None, "") else str(value)


def custom_keys(settings: Mapping[str, Any]) -> dict[str, str]:
    """Tenant-configured neutral field -> Pipedrive custom field key."""
    return dict(settings.get("custom_fields") or {})


def to_platform(api_obj: str, fields: Mapping[str, Any], current: Mapping[str, Any] | None,
                settings: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 (or v1 lead) PATCH body for neutral fields; CRMValidationError names fields it cannot write.

    `current` is the record as it is now, needed when a neutral field is one part of a Pipedrive field
    (a person's primary email among its emails, a first name inside `name`).
    """
    body: dict[str, Any] = {}
    rest = dict(fields)
    for neutral, pd in SIMPLE.get(api_obj, {}).items():
        if neutral in rest:
            body[pd] = rest.pop(neutral)
    if api_obj == "persons":
        _person_body(body, rest, current or {})
    custom = {key: rest.pop(neutral) for neutral, key in custom_keys(settings).items() if neutral in rest}
    if custom:
        body["custom_fields"] = custom
    if rest:
        raise CRMValidationError(f"Pipedrive {api_obj} has no field for {', '.join(sorted(rest))}")
    return body


def _person_body(body: dict[str, Any], rest: dict[str, Any], current: Mapping[str, Any]) -> None:
    for neutral, key in (("email", "emails"), ("phone", "phones")):
        if neutral in rest:
            value = rest.pop(neutral)
            others = [dict(i, primary=False) for i in current.get(key) or [] if not i.get("primary")]
            body[key] = ([{"value": value, "primary": True, "label": "work"}] if value else []) + others
    if "first_name" in rest or "last_name" in rest:
        first = rest.pop("first_name", current.get("first_name")) or ""
        last = rest.pop("last_name", current.get("last_name")) or ""
        body["name"] = f"{first} {last}".strip()


def additional(items: Any) -> list[str]:
    """The non-primary values of a v2 emails/phones list, in order."""
    return list(_primary(items)[1])


def with_additional(items: Any, values: Any) -> list[dict[str, Any]]:
    """A v2 emails/phones list with its primary entry kept and `values` as the others."""
    kept = [dict(i) for i in items or [] if isinstance(i, dict) and i.get("primary") and i.get("value")]
    return kept + [{"value": v, "primary": False, "label": "other"} for v in dict.fromkeys(values)]


# neutral fields to_record takes from elsewhere (a person's organization, an organization's website host)
DERIVED: dict[str, frozenset[str]] = {"persons": frozenset({"company"}), "organizations": frozenset({"domain"})}


def create_body(api_obj: str, fields: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 POST body for a new record: empty values and derived fields left out."""
    kept = {k: v for k, v in fields.items() if v not in (None, "") and k not in DERIVED.get(api_obj, frozenset())}
    return to_platform(api_obj, kept, None, settings)


def needs_current(api_obj: str, fields: Mapping[str, Any]) -> bool:
    """Whether to_platform needs the current record to keep the parts of a field it does not replace."""
    return api_obj == "persons" and bool({"email", "phone", "first_name", "last_name"} & set(fields))


def domain_of(website: Any) -> str | None:
    """'https://www.Acme.example/about' -> 'acme.example'."""
    if not isinstance(website, str) or not website.strip():
        return None
    host = website.strip().lower().split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.removeprefix("www.") or None


# an http(s) URL in escaped text: it ends at white space, a quote or an escaped < > (never inside a tag)
_URL = re.compile(r"https?://(?:(?!&lt;|&gt;)[^\s<>\"'])+")


def task_note_html(text: str) -> str:
    """Plain text as an activity's `note`, which Pipedrive takes and shows as HTML ("The note of the activity
    (HTML format)", https://developers.pipedrive.com/docs/api/v1/Activities#addActivity): a lead named
    <img onerror=…> stays text; line breaks become <br> and http(s) URLs links, as HTML shows neither by itself."""
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(text, quote=False))
    return linked.replace("\r\n", "\n").replace("\n", "<br>")


def append_task_note(note_html: str, note: str) -> str:
    """A closing note appended to an activity's note as Pipedrive returned it (HTML, kept as it is)."""
    return f"{note_html}<br><br>{task_note_html(note)}" if note_html else task_note_html(note)


def due_parts(moment: dt.datetime) -> dict[str, str]:
    """Activity due_date/due_time are UTC (https://pipedrive.readme.io/docs/core-api-concepts-about-pipedrive-api)."""
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return {"due_date": utc.strftime("%Y-%m-%d"), "due_time": utc.strftime("%H:%M")}


def due_at(row: Mapping[str, Any]) -> dt.datetime | None:
    if not row.get("due_date"):
        return None
    time = (row.get("due_time") or "00:00")[:5]
    return dt.datetime.fromisoformat(f"{row['due_date']}T{time}:00+00:00")


def changed_fields(api_obj: str, previous: Mapping[str, Any]) -> tuple[str, ...]:
    """Neutral names of the Pipedrive fields a v2 webhook's `previous` says changed.

    Custom fields are left out: the parser has no tenant settings to name them.
    """
    names = {pd: neutral for neutral, pd in SIMPLE.get(api_obj, {}).items()}
    names.update(owner_id=OWNER_FIELD, emails="email", phones="phone", first_name="first_name",
                 last_name="last_name")
    return tuple(dict.fromkeys(names[key] for key in previous if key in names))
