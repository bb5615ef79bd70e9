"""What a web-form submission becomes in the CRM: the record's fields, the note that carries everything else, and
the keys two racing submissions of one person are serialized on. Pure functions; the job is in submissions.py."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from redis.exceptions import LockError

from integration.dedup.index import email_key, phone_key
from integration.enrich import Enrichment
from integration.records import Record

# the submission's fields a CRM record may hold, in the order the note lists the rest
RECORD_FIELDS = ("email", "phone", "first_name", "last_name", "company", "website", "country", "state", "city",
                 "postcode", "source")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
LABELS = {"email": "Email", "phone": "Phone", "first_name": "First name", "last_name": "Last name",
          "company": "Company", "website": "Website", "country": "Country", "state": "State", "city": "City",
          "postcode": "Postcode", "source": "Source", "utm_source": "UTM source", "utm_medium": "UTM medium",
          "utm_campaign": "UTM campaign", "utm_term": "UTM term", "utm_content": "UTM content",
          "page_url": "Page", "referrer": "Referrer", "consent": "Consent", "consent_text": "Consent text",
          "leadrelay_enriched": "Enriched", "leadrelay_duplicate_of": "Possible duplicate of",
          "leadrelay_email_type": "Email type", "leadrelay_timezone": "Time zone"}
# Salesforce's web-to-lead fills the Lead's required fields the same way when a form leaves them out
NOT_PROVIDED = "[not provided]"
LOCK_TTL = 60  # seconds: a dead worker's lock frees itself; a job holds it only from lookup to index write
LOCK_WAIT = 30


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def submitted(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The submission's record fields that carry a value (strings trimmed)."""
    out = {}
    for name in RECORD_FIELDS:
        value = fields.get(name)
        if not blank(value):
            out[name] = value.strip() if isinstance(value, str) else value
    return out


def as_record(object_type: str, record_id: str, fields: Mapping[str, Any]) -> Record:
    """The submission as a Record, for the dedup index and the scorer (which read neutral fields)."""
    return Record(object_type=object_type, id=record_id, fields=dict(fields), created_at=dt.datetime.now(dt.UTC))


def for_create(values: Mapping[str, Any], enrichment: Enrichment, writable: frozenset[str], lead_object: str
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields the new record gets, fields it has no place for, which go into the note). Enrichment fills blanks
    only; the submission's own values always win."""
    merged = {**{k: v for k, v in enrichment.filled.items() if not blank(v)}, **values,
              **enrichment.crm_fields()}
    if lead_object == "lead":  # a Salesforce Lead cannot be saved without these
        merged.setdefault("last_name", NOT_PROVIDED)
        merged.setdefault("company", NOT_PROVIDED)
    kept = {k: v for k, v in merged.items() if k in writable and not blank(v)}
    return kept, {k: v for k, v in merged.items() if k not in kept and not blank(v)}


def blanks_to_fill(record: Record, values: Mapping[str, Any], writable: frozenset[str]) -> dict[str, Any]:
    """The submission's values for the record's blank fields only: a value already there is never overwritten."""
    return {k: v for k, v in values.items() if k in writable and blank(record.fields.get(k))}


def note_text(fields: Mapping[str, Any], extra: Mapping[str, Any], unplaced: Mapping[str, Any], *,
              returning: bool) -> str:
    """The note on the record: the message, where it came from (UTM, page, referrer), consent, the fields the
    record has no place for and the form's unknown fields. Its first line is its title (Salesforce Note)."""
    title = "Web form submission (came back)" if returning else "Web form submission"
    lines = [title]
    if not blank(fields.get("message")):
        lines += ["", "Message:", str(fields["message"]).strip()]
    facts = [(LABELS[k], fields[k]) for k in (*UTM_FIELDS, "page_url", "referrer") if not blank(fields.get(k))]
    if fields.get("consent") not in (None, ""):
        facts.append(("Consent", _yes_no(fields["consent"])))
    if not blank(fields.get("consent_text")):
        facts.append(("Consent text", fields["consent_text"]))
    facts += [(LABELS.get(k, k), v) for k, v in unplaced.items()]
    facts += [(str(k), v) for k, v in sorted(extra.items()) if not blank(v)]
    if facts:
        lines.append("")
        lines += [f"{label}: {_text(value)}" for label, value in facts]
    return "\n".join(lines)


def person_name(fields: Mapping[str, Any]) -> str:
    """How a reason or a task names the person: full name, else company, else email or phone."""
    name = " ".join(str(fields[k]).strip() for k in ("first_name", "last_name")
                    if not blank(fields.get(k)) and fields.get(k) != NOT_PROVIDED)
    return name or str(fields.get("company") or fields.get("email") or fields.get("phone") or "someone")


def lock_keys(tenant_id: int, values: Mapping[str, Any]) -> list[str]:
    """The Redis lock names for the person's normalised email (case, +tag, Gmail dots) and E.164 phone, sorted so
    that two jobs take them in the same order."""
    keys = {f"email:{k}" for k in (email_key(values.get("email")),) if k}
    keys |= {f"phone:{k}" for k in (phone_key(values.get("phone"), values.get("country")),) if k}
    return sorted(f"leadrelay:lock:capture:{tenant_id}:{k}" for k in keys)


class LockBusy(Exception):
    """Another job held the person's lock past LOCK_WAIT: this one is retried."""


@contextmanager
def person_lock(redis: Any, names: list[str], people: int = 1) -> Iterator[None]:
    """Hold every lock in `names` (a short Redis lock each) for the lookup → create → index write of `people`
    persons (a batch looks each up in turn: its locks live a second longer per person)."""
    with ExitStack() as stack:
        for name in names:
            lock = redis.lock(name, timeout=LOCK_TTL + people - 1, thread_local=False)
            if not lock.acquire(blocking=True, blocking_timeout=LOCK_WAIT):
                raise LockBusy(name)
            stack.callback(_release, lock)
        yield


def _release(lock: Any) -> None:
    with suppress(LockError):  # expired meanwhile: nothing to give back
        lock.release()


def with_id(record: Record, record_id: str) -> Record:
    return dataclasses.replace(record, id=record_id)


def _yes_no(value: Any) -> str:
    text = str(value).strip().lower()
    return "yes" if text in ("1", "true", "yes", "on", "y") else ("no" if text in ("0", "false", "no", "off", "n")
                                                                  else str(value))


def _text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
