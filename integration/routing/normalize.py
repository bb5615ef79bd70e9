"""Normalize and validate a lead's fields (pipeline step 3): pure functions, no network (no DNS for emails)."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from integration.rules.geo import FREE_MAIL_DOMAINS, normalize_country, normalize_postcode, normalize_state
from integration.rules.sources import DEFAULT_SOURCES, SourceLabels

__all__ = ["FREE_MAIL_DOMAINS", "DEFAULT_SOURCES", "Lead", "Normalized", "Problem", "SourceLabels",
           "normalize_country", "normalize_email", "normalize_lead", "normalize_name", "normalize_phone",
           "normalize_postcode", "normalize_state"]

TEXT_FIELDS = ("id", "first_name", "last_name", "email", "phone", "company", "country", "state", "city",
               "postcode", "source", "industry", "language", "service", "account_owner", "email_type", "timezone")
EMAIL_TYPES = ("business", "free", "disposable", "role")
# Lower-case particles stay lower case inside a name typed all in one case ("VAN DER BERG" → "van der Berg").
PARTICLES = frozenset({"van", "der", "den", "de", "del", "della", "di", "da", "du", "le", "la", "von", "zu", "ten",
                       "ter", "bin", "al", "y", "dos", "das"})
GARBAGE_WORDS = frozenset({"test", "testing", "asdf", "asd", "qwerty", "qwe", "xxx", "xx", "x", "aaa", "abc", "foo",
                           "bar", "n/a", "na", "none", "null", "nil", "unknown", "sample", "dummy", "fake", "noname",
                           "no name", "firstname", "lastname", "first", "last", "name", "-", "?", "."})


@dataclass(frozen=True)
class Lead:
    """A lead in neutral, normalized terms: what qualify and route read."""

    id: str = ""
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    postcode: str | None = None
    source: str | None = None
    industry: str | None = None
    language: str | None = None
    service: str | None = None
    employees: int | None = None
    account_owner: str | None = None  # email of the active owner of the matched company/account, if any
    # from enrichment (integration/enrich, run by the pipeline before normalizing): None when not enriched
    email_type: str | None = None  # business | free | disposable | role
    timezone: str | None = None  # IANA name
    created_at: dt.datetime | None = None

    @property
    def email_domain(self) -> str | None:
        return self.email.rsplit("@", 1)[1] if self.email else None


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass(frozen=True)
class Normalized:
    lead: Lead
    problems: list[Problem] = field(default_factory=list)
    unusable: str | None = None  # why the lead goes to review instead of routing, when it does


def _clean(value: Any) -> str | None:
    text = re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""
    return text or None


def normalize_email(value: Any) -> tuple[str | None, str | None]:
    """(lower-cased, syntax-checked email or None, problem or None); never a DNS lookup."""
    text = _clean(value)
    if text is None:
        return None, None
    try:
        # test_environment: `.test` domains are what sandboxes and fixtures use
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return None, f"{text!r} is not a valid email: {exc}"
    return checked.normalized.lower(), None


def normalize_phone(value: Any, country: str | None) -> tuple[str | None, str | None]:
    """(E.164 number or None, problem or None), reading national numbers in the lead's country."""
    text = _clean(value)
    if text is None:
        return None, None
    try:
        number = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        return None, f"{text!r} is not a valid phone number" + ("" if country else " (no country to read it in)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _case_word(word: str, first: bool) -> str:
    if word in PARTICLES and not first:
        return word
    parts = re.split(r"([-'’])", word)  # Smith-Jones, O'Neil
    cased = "".join(p[:1].upper() + p[1:] for p in parts)
    return re.sub(r"^Mc([a-z])", lambda m: "Mc" + m.group(1).upper(), cased)


def normalize_name(value: Any) -> str | None:
    """Trimmed; re-cased only when typed all in one case, so "McDonald" and "van der Berg" stay as typed."""
    text = _clean(value)
    if text is None or (text != text.lower() and text != text.upper()):
        return text
    words = text.lower().split(" ")
    return " ".join(_case_word(w, i == 0) for i, w in enumerate(words))


def is_garbage_name(first: str | None, last: str | None) -> bool:
    """ "asdf", "test test", names with digits or an @: typed to get past a form, not a person."""
    words = " ".join(filter(None, (first, last))).lower().split()
    if not words:
        return False
    if any(re.search(r"[\d@]", w) for w in words):
        return True
    return all(w in GARBAGE_WORDS or len(set(w)) == 1 and len(w) > 1 for w in words)


def _employees(value: Any) -> tuple[int | None, str | None]:
    text = _clean(value)
    if text is None:
        return None, None
    digits = text.replace(",", "").replace("_", "").rstrip("+")
    try:
        number = int(float(digits))
    except ValueError:
        return None, f"{text!r} is not a number of employees"
    return (number, None) if number >= 0 else (None, f"{text!r} is not a number of employees")


def normalize_lead(raw: Mapping[str, Any], sources: SourceLabels | None = None) -> Normalized:
    """Normalize a lead's raw neutral fields; problems are listed, and an unusable lead says why."""
    values = {name: _clean(raw.get(name)) for name in TEXT_FIELDS}
    problems: list[Problem] = []
    country = normalize_country(values["country"])
    if values["country"] and not country:
        problems.append(Problem("country", f"{values['country']!r} is not a known country"))
    email, email_problem = normalize_email(values["email"])
    phone, phone_problem = normalize_phone(values["phone"], country)
    employees, employees_problem = _employees(raw.get("employees"))
    source, source_problem = (sources or DEFAULT_SOURCES).map(values["source"])
    for name, problem in (("email", email_problem), ("phone", phone_problem), ("employees", employees_problem),
                          ("source", source_problem)):
        if problem:
            problems.append(Problem(name, problem))
    lead = Lead(
        id=values["id"] or "", first_name=normalize_name(values["first_name"]),
        last_name=normalize_name(values["last_name"]), email=email, phone=phone, company=values["company"],
        country=country or values["country"], state=normalize_state(values["state"], country),
        city=values["city"], postcode=normalize_postcode(values["postcode"], country), source=source,
        industry=values["industry"], language=values["language"], service=values["service"], employees=employees,
        account_owner=values["account_owner"].lower() if values["account_owner"] else None,
        email_type=values["email_type"].lower() if (values["email_type"] or "").lower() in EMAIL_TYPES else None,
        timezone=values["timezone"],
        created_at=raw.get("created_at") if isinstance(raw.get("created_at"), dt.datetime) else None)
    return Normalized(lead, problems, _unusable(lead, values))


def _unusable(lead: Lead, values: dict[str, str | None]) -> str | None:
    if is_garbage_name(lead.first_name, lead.last_name):
        name = " ".join(filter(None, (values["first_name"], values["last_name"])))
        return f"unusable lead: {name!r} is not a real name"
    if not lead.email and not lead.phone:
        tried = [f"{k} {values[k]!r} is invalid" for k in ("email", "phone") if values[k]]
        return "unusable lead: no way to contact (no valid email or phone" + (f"; {', '.join(tried)})" if tried
                                                                              else ")")
    return None


def with_fields(lead: Lead, **changes: Any) -> Lead:
    """A copy of a lead with some fields replaced (the pipeline adds the account owner after fetching)."""
    return replace(lead, **changes)
