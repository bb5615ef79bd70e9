"""Record shapes and validation: records are stored in API v2 shape (leads in their v1 shape).

Field lists come from Pipedrive's openapi-v2.yaml (GetPersons/GetOrganizations/GetActivities/GetDeals
schemas; mirrored at github.com/fav83/whatsapp2pipe Docs/External/Pipedrive/docs/api/openapi-v2.yaml) and the
v1 lead schema. Contact-sync-only person fields (notes, im, birthday, job_title, postal_address) are omitted,
as for a company without contact sync.
"""
from __future__ import annotations

import hashlib
from typing import Any

from sandbox.pipedrive.core import PdError, as_bool, iso, iso_ms, user
from sandbox.state import Account

# Default pipeline of a new Pipedrive company (ids 1..5 in pipeline 1).
STAGES = [{"id": i + 1, "name": n, "pipeline_id": 1, "order_nr": i + 1, "deal_probability": p}
          for i, (n, p) in enumerate([("Qualified", 10), ("Contact Made", 20), ("Demo Scheduled", 40),
                                      ("Proposal Made", 60), ("Negotiations Started", 80)])]
ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
VISIBLE_TO = (1, 3, 5, 7)

EDITABLE = {
    "persons": ("name", "owner_id", "org_id", "emails", "phones", "visible_to", "label_ids", "custom_fields",
                "marketing_status"),
    "organizations": ("name", "owner_id", "address", "visible_to", "label_ids", "custom_fields"),
    "deals": ("title", "owner_id", "person_id", "org_id", "pipeline_id", "stage_id", "value", "currency",
              "status", "expected_close_date", "probability", "lost_reason", "visible_to", "label_ids",
              "custom_fields"),
    "activities": ("subject", "type", "owner_id", "deal_id", "lead_id", "org_id", "project_id", "participants",
                   "due_date", "due_time", "duration", "busy", "done", "note", "location", "public_description",
                   "priority"),
    "leads": ("title", "owner_id", "person_id", "organization_id", "label_ids", "value", "expected_close_date",
              "visible_to", "was_seen", "is_archived", "channel", "channel_id"),
}
# Marketing consent exists only where the company uses Campaigns: elsewhere persons have no marketing_status and a
# write of it is ignored (v2 addPerson/updatePerson "If the company uses the Campaigns product, then this endpoint
# will also accept and return the marketing_status field"). account.extra[CAMPAIGNS] False: a company without it.
CAMPAIGNS = "campaigns"
MARKETING_STATUSES = ("no_consent", "unsubscribed", "subscribed", "archived")


# Activity priority: an integer whose labels the activityFields API gives (v2 ActivityItem.priority "Mappable to a
# specific string using activityFields API"). The ids and labels here are UNCONFIRMED (the v2 reference's example
# activity has priority 263); so is which plans have the field: account.extra[PRIORITIES] [] is a company without
# it, and a write of an id that is not one of its options is refused.
PRIORITIES = "activity_priorities"
DEFAULT_PRIORITIES = ({"id": 262, "label": "High"}, {"id": 263, "label": "Medium"}, {"id": 264, "label": "Low"})


def activity_priorities(account: Account) -> list[dict[str, Any]]:
    return [dict(o) for o in account.extra.get(PRIORITIES, DEFAULT_PRIORITIES)]


def has_campaigns(account: Account) -> bool:
    return bool(account.extra.get(CAMPAIGNS, True))


REQUIRED = {"persons": "name", "organizations": "name", "deals": "title", "leads": "title"}


def custom_field_key(name: str) -> str:
    """Custom fields are keyed by 40-character hashes; derive one deterministically from the name."""
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


WEBSITE_KEY = custom_field_key("organization.website")  # Pipedrive orgs have no standard domain field


ADDRESS_PARTS = ("value", "country", "admin_area_level_1", "admin_area_level_2", "locality", "sublocality",
                 "route", "street_number", "postal_code")


def address(raw: Any) -> dict[str, Any] | None:
    """Organization address object; components Pipedrive would geocode stay null unless given."""
    if raw in (None, ""):
        return None
    raw = {"value": raw} if isinstance(raw, str) else dict(raw)
    return {part: raw.get(part) for part in ADDRESS_PARTS}


def bad(message: str) -> PdError:
    return PdError(400, message)


def _contact_list(values: Any, field: str) -> list[dict[str, Any]]:
    """emails/phones: strings or {value, primary, label} objects -> normalised list with one primary."""
    if values is None:
        return []
    if isinstance(values, str | dict):
        values = [values]
    if not isinstance(values, list):
        raise bad(f"Validation failed: {field}: must be an array")
    out = []
    for item in values:
        entry = {"value": item} if isinstance(item, str) else dict(item)
        if not isinstance(entry.get("value"), str):
            raise bad(f"Validation failed: {field}: value is required")
        out.append({"value": entry["value"], "primary": as_bool(entry.get("primary", False)),
                    "label": str(entry.get("label") or "work")})
    out = [e for e in out if e["value"]]
    if out and not any(e["primary"] for e in out):
        out[0]["primary"] = True
    return out


def _int_or_none(value: Any, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"Validation failed: {field}: must be an integer") from None


def _check_ref(account: Account, table: str, value: Any, field: str) -> None:
    if value is None:
        return
    row = account.table(table).get(str(value))
    if row is None or row.get("is_deleted"):
        raise PdError(404 if table != "users" else 400, f"{field} {value} not found")


def clean(account: Account, object_type: str, props: dict[str, Any], creating: bool) -> dict[str, Any]:
    """Validate and normalise writable fields; raises PdError(400/404) like the API."""
    allowed = EDITABLE[object_type]
    if object_type == "activities" and "person_id" in props:
        # v2 activities: person_id is read-only, link persons via participants
        # (https://devcommunity.pipedrive.com/t/api-v1-to-v2-upgrade-post-activities-http-400-responses/19734)
        raise bad("Validation failed: person_id: Parameter is read-only, use participants instead")
    out = {k: v for k, v in props.items() if k in allowed}
    required = REQUIRED.get(object_type)
    if creating and required and not str(out.get(required) or "").strip():
        raise bad(f"Validation failed: {required}: Parameter is required")
    if not creating and required and required in out and not str(out[required] or "").strip():
        raise bad(f"Validation failed: {required}: Parameter must not be empty")
    for key in ("emails", "phones"):
        if key in out:
            out[key] = _contact_list(out[key], key)
    for key in ("owner_id", "org_id", "person_id", "deal_id", "organization_id", "stage_id", "pipeline_id"):
        if key in out:
            out[key] = _int_or_none(out[key], key)
    _check_refs(account, out)
    if "visible_to" in out and out["visible_to"] is not None and int(out["visible_to"]) not in VISIBLE_TO:
        raise bad("Validation failed: visible_to: must be one of 1, 3, 5, 7")
    if "custom_fields" in out and not isinstance(out["custom_fields"], dict):
        raise bad("Validation failed: custom_fields: must be an object")
    if "address" in out:
        out["address"] = address(out["address"])
    _clean_specific(account, object_type, out)
    return out


def _check_refs(account: Account, out: dict[str, Any]) -> None:
    if out.get("owner_id") is not None and user(account, out["owner_id"]) is None:
        raise bad(f"Validation failed: owner_id: User {out['owner_id']} not found")
    _check_ref(account, "organizations", out.get("org_id"), "Organization")
    _check_ref(account, "organizations", out.get("organization_id"), "Organization")
    _check_ref(account, "persons", out.get("person_id"), "Person")
    _check_ref(account, "deals", out.get("deal_id"), "Deal")


def _clean_consent(account: Account, out: dict[str, Any]) -> None:
    if "marketing_status" not in out:
        return
    if not has_campaigns(account):
        out.pop("marketing_status")
    elif out["marketing_status"] not in MARKETING_STATUSES:
        raise bad(f"Validation failed: marketing_status: must be one of {', '.join(MARKETING_STATUSES)}")


def _clean_priority(account: Account, out: dict[str, Any]) -> None:
    if out.get("priority") is not None:
        out["priority"] = _int_or_none(out["priority"], "priority")
        if out["priority"] not in {o["id"] for o in activity_priorities(account)}:
            # the wording is UNCONFIRMED; the 400 follows the other field validations
            raise bad(f"Validation failed: priority: {out['priority']} is not a valid option")


def _clean_specific(account: Account, object_type: str, out: dict[str, Any]) -> None:
    if object_type == "persons":
        _clean_consent(account, out)
    if object_type == "deals":
        if out.get("stage_id") is not None:
            stage = next((s for s in STAGES if s["id"] == out["stage_id"]), None)
            if stage is None:
                raise bad(f"Validation failed: stage_id: Stage {out['stage_id']} not found")
            out["pipeline_id"] = stage["pipeline_id"]
        if "status" in out and out["status"] not in ("open", "won", "lost"):
            raise bad("Validation failed: status: must be one of open, won, lost")
    if object_type == "activities":
        if "type" in out and out["type"] not in ACTIVITY_TYPES:
            raise bad(f"Validation failed: type: Activity type {out['type']!r} not found")
        if "done" in out:
            out["done"] = as_bool(out["done"])
        _clean_priority(account, out)
        for part in out.get("participants") or []:
            _check_ref(account, "persons", part.get("person_id"), "Person")


def new_record(account: Account, object_type: str, rid: Any, fields: dict[str, Any], owner_id: int,
               source: str, now: float) -> dict[str, Any]:
    """A fresh record in the API's shape with defaults filled in."""
    base = {"id": rid, "owner_id": owner_id, "add_time": iso(now), "update_time": iso(now),
            "is_deleted": False, "visible_to": 3, "label_ids": [], "custom_fields": {}}
    if object_type == "persons":
        base.update(name="", first_name=None, last_name=None, org_id=None, emails=[], phones=[], picture_id=None)
        if has_campaigns(account):
            base["marketing_status"] = "no_consent"
    elif object_type == "organizations":
        base.update(name="", address=None)
    elif object_type == "deals":
        base.update(title="", person_id=None, org_id=None, pipeline_id=1, stage_id=1, value=0, currency="USD",
                    status="open", probability=None, lost_reason=None, expected_close_date=None,
                    stage_change_time=None, close_time=None, won_time=None, lost_time=None, creator_user_id=owner_id)
    elif object_type == "activities":
        base = _new_activity(rid, owner_id, now)
    elif object_type == "leads":
        base = _new_lead(rid, owner_id, source, now)
    record = {**base, **{k: v for k, v in fields.items() if v is not None or k in base}}
    derive(record, object_type, {}, now)
    return record


def _new_activity(rid: int, owner_id: int, now: float) -> dict[str, Any]:
    return {"id": rid, "subject": None, "type": "task", "owner_id": owner_id, "creator_user_id": owner_id,
            "is_deleted": False, "add_time": iso(now), "update_time": iso(now), "deal_id": None, "lead_id": None,
            "person_id": None, "org_id": None, "project_id": None, "due_date": None, "due_time": None,
            "duration": None, "busy": False, "done": False, "marked_as_done_time": None, "location": None,
            "participants": [], "attendees": None, "conference_meeting_client": None,
            "conference_meeting_url": None, "conference_meeting_id": None, "public_description": None,
            "priority": None, "note": None}


def _new_lead(rid: str, owner_id: int, source: str, now: float) -> dict[str, Any]:
    # v1 lead shape; source_name is read-only: "API" for API-made leads, "Manually created" in the UI
    return {"id": rid, "title": "", "owner_id": owner_id, "creator_id": owner_id, "label_ids": [],
            "person_id": None, "organization_id": None, "source_name": "API" if source == "api" else
            "Manually created", "origin": "API" if source == "api" else "ManuallyCreated", "channel": None,
            "channel_id": None, "is_archived": False, "was_seen": False, "value": None,
            "expected_close_date": None, "next_activity_id": None, "add_time": iso_ms(now),
            "update_time": iso_ms(now), "visible_to": "3", "cc_email": None}


def derive(record: dict[str, Any], object_type: str, changes: dict[str, Any], now: float) -> None:
    """Fields the server computes: names, primary participant, done/won times."""
    if object_type == "persons":
        if "marketing_status" in record and not any(e.get("value") for e in record.get("emails") or []):
            # "If the person does not have a valid email address, then the marketing status is not set"
            record["marketing_status"] = "no_consent"
        parts = (record.get("name") or "").split(" ", 1)
        record["first_name"], record["last_name"] = parts[0] or None, (parts[1] if len(parts) > 1 else None)
    elif object_type == "activities":
        primary = next((p for p in record.get("participants") or [] if p.get("primary")), None)
        record["person_id"] = primary["person_id"] if primary else None
        if not record.get("subject"):
            record["subject"] = record.get("type", "task").capitalize()
        if changes.get("done") is True or (record["done"] and not record.get("marked_as_done_time")):
            record["marked_as_done_time"] = iso(now)
        if changes.get("done") is False:
            record["marked_as_done_time"] = None
    elif object_type == "deals":
        if "stage_id" in changes:
            record["stage_change_time"] = iso(now)
        status = changes.get("status")
        if status in ("won", "lost"):
            record["close_time"] = iso(now)
            record[f"{status}_time"] = iso(now)
        elif status == "open":
            record.update(close_time=None, won_time=None, lost_time=None)


def touch(record: dict[str, Any], object_type: str, now: float) -> None:
    record["update_time"] = iso_ms(now) if object_type == "leads" else iso(now)
