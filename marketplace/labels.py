"""Plain words for what the console shows: field keys, decision kinds and outcomes, review kinds.

Every page names a field "First name", never `first_name`: an admin reads the CRM's words, not LeadRelay's keys.
Known keys have an explicit label; any other key still reads as words ("some_key" -> "Some key"), never as code.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask

FIELDS: dict[str, str] = {
    "id": "CRM id", "first_name": "First name", "last_name": "Last name", "name": "Name", "email": "Email",
    "emails": "Emails", "extra_emails": "Other emails", "phone": "Phone", "mobile": "Mobile",
    "extra_phones": "Other phones", "company": "Company", "title": "Job title", "street": "Street", "city": "City",
    "state": "State or region", "postcode": "Postcode", "country": "Country", "website": "Website",
    "industry": "Industry", "language": "Language", "service": "Service", "source": "Lead source",
    "employees": "Employees", "account_owner": "Account owner", "created_at": "Created", "updated_at": "Updated",
    "owner_id": "Owner", "new_owner_id": "New owner", "owner": "Owner", "lifecycle_stage": "Lifecycle stage",
    "score": "Score", "tier": "Tier", "rule": "Rule", "qualification": "Why this score", "reason": "Reason",
    "lead": "Lead", "fields": "Fields as received", "path": "Rules checked", "skipped": "Skipped owners",
    "written_at": "Written to the CRM", "sla_task": "SLA task opened", "snapshot_id": "Merge snapshot",
    "merged_ids": "Merged records", "merged_from": "Merged from", "survivor_id": "Kept record",
    "other_id": "Other record", "review_item": "Review item", "review_kind": "Review kind", "by": "By",
    "crm_refused": "Not written to the CRM", "notes": "Notes", "since": "Since", "stage": "Stage",
    "from": "From", "to": "To", "due_at": "Due", "policy": "SLA policy", "step": "Step", "why": "Why",
    "matched": "Matched", "index": "Order", "leadrelay_reason": "Routing reason", "leadrelay_score": "Score",
    "leadrelay_tier": "Tier", "leadrelay_duplicate_of": "Possible duplicate of",
    "leadrelay_routed_at": "Routed at", "time_to_first_touch_median_seconds": "Time to first touch (median)",
    "time_to_first_touch_p90_seconds": "Time to first touch (90th percentile)",
    "enriched": "Written by enrichment", "leadrelay_enriched": "Enrichment", "timezone": "Time zone",
    "leadrelay_timezone": "Time zone", "leadrelay_email_type": "Email type",
}

# The filter's kinds, as a select lists them.
KINDS: dict[str, str] = {
    "route": "Routing", "dedup": "Duplicate merged", "review": "Review queue action", "undo": "Merge undone",
    "qualify": "Qualified", "sla": "SLA", "cadence": "Follow-up cadence", "reactivation": "Reactivation",
    "lifecycle": "Lifecycle stage", "access": "Console access", "capture": "Web form submission",
}

# One audit row's kind in plain words, by (kind, outcome); (kind, None) is the kind's word for any other outcome.
DECISIONS: dict[tuple[str, str | None], str] = {
    ("route", "review"): "Sent to review", ("route", "merged"): "Duplicate kept with its owner",
    ("route", None): "Routed", ("dedup", None): "Duplicate merged", ("undo", None): "Merge undone",
    ("review", "not a duplicate"): "Kept apart by hand", ("review", None): "Assigned by hand",
    ("qualify", None): "Qualified", ("sla", "task_created"): "SLA clock started", ("sla", "met"): "SLA met",
    ("sla", "notify_manager"): "SLA escalated", ("sla", "no_manager"): "SLA escalated",
    ("sla", "reassigned"): "SLA escalated", ("sla", "review"): "SLA escalated",
    ("sla", None): "SLA", ("cadence", None): "Follow-up cadence", ("reactivation", None): "Reactivated",
    ("lifecycle", None): "Lifecycle stage", ("access", None): "Console access",
    ("capture", "created"): "New lead from a web form", ("capture", "updated"): "Came back through a web form",
    ("capture", "review"): "Web form lead: possible duplicate", ("capture", "failed"): "Web form lead not captured",
    ("capture", None): "Web form submission",
}

# Outcomes that are not an owner's email, in plain words.
OUTCOMES: dict[str, str] = {
    "review": "Sent to the review queue", "merged": "Stays with its twin's owner",
    "created": "Record created", "updated": "Existing record updated", "failed": "Not captured",
    "not a duplicate": "Both records kept", "task_created": "Task created for the owner",
    "met": "First touch in time", "notify_manager": "Manager notified", "no_manager": "No manager to notify",
    "reassigned": "Given to another owner", "gone": "Lead no longer in the CRM",
    "handed_over": "Handed over in the CRM", "replanned": "Due time moved", "started": "Started",
    "ended": "All steps created", "set": "Stage set", "skipped": "Skipped", "refused": "Refused",
    "restored": "Restored", "undone": "Undone", "task": "Task created", "cadence": "Cadence started",
    "installed": "Installed", "reconnected": "Reconnected", "invited": "Invited",
    "invitation-accepted": "Invitation accepted", "invitation-revoked": "Invitation revoked",
    "member-remove": "Member removed", "member-role": "Role changed", "agency-linked": "Agency linked",
    "agency-grant": "Agency access changed", "reinstall-refused": "Reinstall refused",
}

# What each review item is about, for its heading.
REVIEW_KINDS: dict[str, str] = {
    "dedup": "Possible duplicate", "routing": "Nobody could take this lead", "validation": "Unusable lead",
    "crm_error": "The CRM refused a write", "sla": "SLA missed",
}

# The matcher's verdicts on a field of a pair.
VERDICTS: dict[str, str] = {"same": "Same", "similar": "Similar", "different": "Different",
                            "missing": "Missing on one side"}

MERGE_STATUS: dict[str, str] = {"merged": "Merged", "undone": "Undone", "pending": "Not merged yet",
                                "skipped": "Not merged"}

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def words(key: str) -> str:
    """Any key as words: "some_key" -> "Some key"; "leadrelay_" is LeadRelay's own prefix and says nothing."""
    text = re.sub(r"^leadrelay_", "", str(key)).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else str(key)


def label(key: Any) -> str:
    """A field key in plain words."""
    key = "" if key is None else str(key)
    return FIELDS.get(key) or FIELDS.get(key.lower()) or words(key)


def kind_label(kind: str) -> str:
    return KINDS.get(kind) or words(kind)


def decision_label(kind: str, outcome: str | None) -> str:
    """An audit row's kind: what happened, as an admin would say it."""
    outcome = (outcome or "").lower()
    if kind == "review" and outcome.startswith("merged into"):
        return "Merged by hand"
    return DECISIONS.get((kind, outcome)) or DECISIONS.get((kind, None)) or words(kind)


def outcome_label(outcome: str) -> str:
    return OUTCOMES.get(outcome) or words(outcome)


def review_kind_label(kind: str) -> str:
    return REVIEW_KINDS.get(kind) or words(kind)


def verdict_label(verdict: str) -> str:
    return VERDICTS.get(verdict, words(verdict)) if verdict else ""


def value_text(value: Any) -> str:
    """One value as text: numbers rounded, yes/no, times without the ISO 'T', lists joined."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.utcoffset() == dt.timedelta(0) else "")
    if isinstance(value, str) and _ISO.match(value):
        try:
            return value_text(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, Mapping):
        return "; ".join(f"{label(k)}: {value_text(v)}" for k, v in value.items() if value_text(v))
    if isinstance(value, list | tuple | set):
        return ", ".join(t for t in (value_text(v) for v in value) if t)
    return str(value)


# Nested sections whose keys read on their own: a lead's "Country" is the lead's, nothing else's.
_FLAT = frozenset({"lead", "fields"})


def readable(mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None, skip: Iterable[str] = ()) -> list[
        tuple[str, str]]:
    """(label, text) rows for a table: nested mappings flattened ("Lead · …" dropped for the lead's own fields),
    blank values left out. Already-labelled (label, value) pairs pass through."""
    if mapping is None:
        return []
    if not isinstance(mapping, Mapping):
        return [(str(k), value_text(v)) for k, v in mapping if value_text(v)]
    skipped = set(skip)
    rows: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if key in skipped:
            continue
        if isinstance(value, Mapping) and value:
            prefix = "" if key in _FLAT else f"{label(key)} · "
            rows += [(f"{prefix}{name}", text) for name, text in readable(value, skipped)]
        elif text := value_text(value):
            rows.append((label(key), text))
    return rows


def zone_name(tz: str) -> str:
    """A time zone as people say it: "Los Angeles time" for America/Los_Angeles; "UTC" for UTC."""
    return "UTC" if tz.upper() in ("UTC", "ETC/UTC") else tz.rsplit("/", 1)[-1].replace("_", " ") + " time"


def register_labels(app: Flask) -> None:
    """The |label family of Jinja filters, for every template."""
    app.add_template_filter(label, "label")
    app.add_template_filter(kind_label, "kind_label")
    app.add_template_filter(decision_label, "decision_label")
    app.add_template_filter(outcome_label, "outcome_label")
    app.add_template_filter(review_kind_label, "review_kind_label")
    app.add_template_filter(verdict_label, "verdict_label")
    app.add_template_filter(readable, "readable")
    app.add_template_filter(value_text, "value_text")
