"""One record made ready for matching: every field normalised once, plus the blocking keys it is found under."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from integration.dedup.index import email_key, near_keys, phone_key
from integration.dedup.names import canonical_first, company_forms, is_role_address, norm_name, norm_street
from integration.rules.geo import normalize_country


@lru_cache(maxsize=131072)
def _phone(raw: str, country: str) -> str | None:
    # phonenumbers.parse costs tens of microseconds; exports repeat the same numbers a lot
    return phone_key(raw, country or None)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Normalised view of a lead; built by `prepare`, compared by `features.compare`."""

    id: str
    first: str
    last: str
    first_canon: frozenset[str]
    emails: frozenset[str]          # personal addresses only (email_key form)
    role_emails: frozenset[str]     # info@, sales@ …: kept apart because they identify a team
    domains: frozenset[str]         # domains of the personal addresses
    phones: frozenset[str]          # E.164 where parseable
    company: str                    # legal form stripped
    company_core: str               # descriptors stripped too
    street: str
    city: str
    postcode: str
    country: str


def _values(record: Mapping, one: str, many: str) -> list[str]:
    extra = record.get(many) or ()
    if isinstance(extra, str):
        extra = extra.replace(";", ",").split(",")
    return [v for v in (record.get(one), *extra) if v and str(v).strip()]


def _split_emails(record: Mapping) -> tuple[frozenset[str], frozenset[str]]:
    personal, role = set(), set()
    for raw in _values(record, "email", "extra_emails"):
        if key := email_key(str(raw)):
            (role if is_role_address(key) else personal).add(key)
    return frozenset(personal), frozenset(role)


@lru_cache(maxsize=4096)
def _country(value: str) -> str:
    """The ISO code ("Australia", "AUS", "au" → "AU"): a phone is read in the lead's country, and "0407 112 233"
    read as a US number is another phone than "+61 407 112 233"."""
    return normalize_country(value) or value.strip().upper()


def prepare(record: Mapping) -> Prepared:
    """Normalise a plain dict with neutral field names (missing keys are empty)."""
    country = _country(str(record.get("country") or ""))
    emails, role_emails = _split_emails(record)
    phones = {p for raw in _values(record, "phone", "extra_phones") if (p := _phone(str(raw).strip(), country))}
    first = norm_name(record.get("first_name"))
    company, core = company_forms(str(record.get("company") or ""))
    return Prepared(
        id=str(record.get("id") or ""), first=first, last=norm_name(record.get("last_name")),
        first_canon=canonical_first(first), emails=emails, role_emails=role_emails,
        domains=frozenset(e.rpartition("@")[2] for e in emails), phones=frozenset(phones),
        company=company, company_core=core, street=norm_street(str(record.get("street") or "")),
        city=norm_name(record.get("city")), postcode=str(record.get("postcode") or "").strip().lower()[:5],
        country=country,
    )


def blocking_keys(p: Prepared) -> set[str]:
    """Keys under which `p` meets its duplicate candidates; two records are compared when they share one."""
    keys = {f"e:{e}" for e in p.emails} | {f"p:{ph}" for ph in p.phones}
    if p.last and p.first:
        # sorted so that transposed first/last names land on the same key; canonical so Bob meets Robert
        keys |= {"n:" + "|".join(sorted((c, p.last))) for c in p.first_canon}
    if p.company_core:
        # either name with the company: a misspelt (or married) last name still meets its twin through
        # the first name, and a transposed record through whichever name sits in either field
        keys |= {f"c:{n}|{p.company_core}" for n in {p.last, *p.first_canon} - {""}}
    if p.postcode and p.last:
        keys.add(f"z:{p.last}|{p.postcode}")   # a first name + postcode block is too wide to be worth it
    if p.street and p.first and p.last:
        keys.add("s:" + "".join(sorted(p.first[0] + p.last[0])) + "|" + p.street)
    # the keys the database index also has for messy records: phone near-misses, sound-alike names, house
    return keys | {f"{kind}:{value}" for kind, value in near_keys(p.first, p.last, set(p.phones), p.street,
                                                                   p.postcode)}


def prepare_all(records: Iterable[Mapping]) -> list[Prepared]:
    """`prepare` over many records, in order."""
    return [prepare(r) for r in records]
