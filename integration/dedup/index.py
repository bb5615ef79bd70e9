"""The dedup blocking index kept in our database: keys per record, refreshed from webhooks and the sweep."""
from __future__ import annotations

import re

import jellyfish
import phonenumbers
from sqlalchemy import Select, and_, delete, or_, select
from sqlalchemy.orm import Session

from integration.dedup.names import norm_name, norm_street
from integration.models import DedupKey, utcnow
from integration.records import Record

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def email_key(email: str | None) -> str | None:
    """Lowercased, plus-address dropped; Gmail dots removed (they are ignored by Gmail)."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}" if local and domain else None


def phone_key(phone: str | None, country: str | None = None) -> str | None:
    """E.164 when parseable (with the record's country as the default region), else the bare digits."""
    if not phone:
        return None
    region = (country or "US").upper() if country and len(country) == 2 else "US"
    try:
        parsed = phonenumbers.parse(phone, region)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    digits = re.sub(r"\D", "", phone)
    return digits if len(digits) >= 7 else None


PHONE_TAIL = 9   # digits of a phone's end that its near-miss keys are built from


def phone_variants(phone: str) -> set[str]:
    """The phone's last PHONE_TAIL digits with each one left out in turn: two numbers one substitution or one
    transposition apart share one of these (9 keys a phone; 9 digits, so that strangers rarely do)."""
    digits = re.sub(r"\D", "", phone)[-PHONE_TAIL:]
    if len(digits) < PHONE_TAIL:
        return set()
    return {digits[:k] + digits[k + 1:] for k in range(PHONE_TAIL)}


def phonetic_names(first: str | None, last: str | None) -> str | None:
    """Metaphone codes of both names, sorted: meets spelling variants and transposed first/last names."""
    codes = sorted(jellyfish.metaphone(n) for n in (norm_name(first), norm_name(last)) if n)
    return "|".join(codes) if len(codes) == 2 and all(codes) else None


def street_number_postcode(street: str | None, postcode: str | None) -> str | None:
    """House number and postcode: a typed street name can be mangled beyond recognition, these rarely both are."""
    number = norm_street(street).partition(" ")[0]
    code = (postcode or "").strip().lower()[:5]
    return f"{number}|{code}" if number.isdigit() and code else None


def street_number_name(street: str | None) -> str | None:
    """House number and the street's first word ("7|dixon"): meets a record whose postcode was mistyped."""
    number, _, rest = norm_street(street).partition(" ")
    word = next((w for w in rest.split() if len(w) >= 3 and w.isalpha()), "")
    return f"{number}|{word}" if number.isdigit() and word else None


def _norm(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip()


def record_keys(record: Record) -> set[tuple[str, str]]:
    """(key type, value) pairs under which the record can be found as a duplicate candidate."""
    f = record.fields
    keys = set()
    for email in (f.get("email"), *record.extra_emails):
        if key := email_key(email):
            keys.add(("email", key))
    for phone in (f.get("phone"), f.get("mobile"), *record.extra_phones):
        if key := phone_key(phone, f.get("country")):
            keys.add(("phone", key))
    last, first = _norm(f.get("last_name")), _norm(f.get("first_name"))
    if last and (company := _norm(f.get("company"))):
        keys.add(("name_company", f"{last}|{company}"))
    if last and (postcode := _norm(f.get("postcode"))):
        keys.add(("name_postcode", f"{last}|{postcode}"))
    if last and first:
        keys.add(("name", f"{last}|{first[:1]}"))
    return keys | near_keys(f.get("first_name"), f.get("last_name"), {v for t, v in keys if t == "phone"},
                            f.get("street"), f.get("postcode"))


def near_keys(first: str | None, last: str | None, phones: set[str], street: str | None, postcode: str | None
              ) -> set[tuple[str, str]]:
    """Keys for messy records (typos, swapped names, no email): shared by the index and batch blocking."""
    keys = {("phone_near", v) for phone in phones for v in phone_variants(phone)}
    if sound := phonetic_names(first, last):
        keys.add(("sound", sound))
    initials = {name[:1] for name in (norm_name(first), norm_name(last)) if name}
    # with either initial: one office holds many colleagues, while a typo rarely hits both names
    for house in {street_number_postcode(street, postcode), street_number_name(street)} - {None}:
        keys |= {("house", f"{house}|{initial}") for initial in initials}
    return keys


def index_record(session: Session, tenant_id: int, record: Record) -> None:
    """Replace the record's keys with its current ones (idempotent)."""
    session.execute(delete(DedupKey).where(DedupKey.tenant_id == tenant_id, DedupKey.object_type == record.object_type,
                                           DedupKey.object_id == record.id))
    now = utcnow()
    session.add_all(DedupKey(tenant_id=tenant_id, key_type=kt, key_value=kv[:200], object_type=record.object_type,
                             object_id=record.id, updated_at=now) for kt, kv in sorted(record_keys(record)))


def forget_record(session: Session, tenant_id: int, object_type: str, object_id: str) -> None:
    session.execute(delete(DedupKey).where(DedupKey.tenant_id == tenant_id, DedupKey.object_type == object_type,
                                           DedupKey.object_id == object_id))


def candidates(session: Session, tenant_id: int, record: Record) -> set[tuple[str, str]]:
    """(object_type, id) of indexed records sharing a key with `record` (itself excluded)."""
    keys = record_keys(record)
    if not keys:
        return set()
    rows = session.execute(candidates_query(tenant_id, keys)).all()
    return {(t, i) for t, i in rows if not (t == record.object_type and i == record.id)}


def candidates_query(tenant_id: int, keys: set[tuple[str, str]]) -> Select:
    """Rows sharing a (key type, value) pair with `keys`.

    One OR term per key type, each repeating the tenant, so that every term is a seek on ix_dedup_keys_lookup
    (tenant_id, key_type, key_value): SQLite's multi-index OR, PostgreSQL's BitmapOr. Filtering key_value
    alone made SQLite scan all of the tenant's keys (~100 ms at 200k records; `leadrelay bench lookup`).
    """
    by_type: dict[str, list[str]] = {}
    for key_type, key_value in sorted(keys):
        by_type.setdefault(key_type, []).append(key_value[:200])
    return select(DedupKey.object_type, DedupKey.object_id).where(or_(*(
        and_(DedupKey.tenant_id == tenant_id, DedupKey.key_type == key_type, DedupKey.key_value.in_(values))
        for key_type, values in by_type.items())))
