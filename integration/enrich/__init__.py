"""Enrichment, offline and free: what a lead's own fields tell about it, filled only where it left a blank.

`enrich(fields)` reads neutral lead fields (email, phone, country, state, city, postcode, website …) and answers
what it could fill and from where, the email's type, the lead's time zone and its registrable domain. No network,
ever: every source is data shipped in a package (see README, "Enrichment"), loaded once per process on first use.

Time zone precedence: the ZIP (most precise) > the phone (when it is in one zone, or the state narrows its zones to
one) > the state (all its ZIPs in one zone) > the country (when it is in one zone).

The company the domain belongs to in the CRM is not looked up here (no CRM calls): the pipeline's account-owner
lookup (integration/crm/account_owners.py) does that by the email's domain. A paid vendor (the customer's own key)
would be one more source called after these, for the blanks still left.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integration.enrich.domains import registrable_domain
from integration.enrich.emails import EMAIL_TYPES, email_type, split_email
from integration.enrich.phones import PhoneFacts, phone_facts
from integration.enrich.zips import state_zones, zip_facts
from integration.enrich.zones import country_zone
from integration.rules.geo import normalize_country, normalize_state

__all__ = ["EMAIL_TYPES", "CRM_FIELDS", "Enrichment", "enrich"]

CRM_FIELDS = ("leadrelay_enriched", "leadrelay_email_type", "leadrelay_timezone")
MAX_TEXT = 255  # LeadRelay's text fields are 255 characters on every CRM
EMAIL_SOURCE = "email domain"
LABELS = {"timezone": "time zone", "email_type": "email type", "postcode": "postcode"}


@dataclass(frozen=True)
class Enrichment:
    filled: dict[str, Any] = field(default_factory=dict)  # neutral field → value, only where the input was blank
    sources: dict[str, str] = field(default_factory=dict)  # field (also timezone, email_type) → where it came from
    email_type: str | None = None  # business | free | disposable | role
    timezone: str | None = None  # IANA name
    domain: str | None = None  # registrable domain of the email, else of the website
    phone_area: str | None = None  # the phone's area in English ("Dallas, TX"): shown, never written as a city
    county: str | None = None  # from the ZIP; no CRM has a neutral county field, so it is named, not filled

    def __bool__(self) -> bool:
        return bool(self.filled or self.email_type or self.timezone or self.domain)

    def summary(self) -> str:
        """"city, state, county, time zone from ZIP 75201; country from phone +1 214…" (≤ 255 characters)."""
        by_source: dict[str, list[str]] = {}
        for name, source in self.sources.items():
            by_source.setdefault(source, []).append(LABELS.get(name, name.replace("_", " ")))
        text = "; ".join(f"{', '.join(names)} from {source}" for source, names in by_source.items())
        return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"

    def lead_fields(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The raw fields with what was found, as normalize_lead reads them (the pipeline, a simulation and the
        console's test panel route on the same values)."""
        return {**raw, **self.filled, "email_type": self.email_type, "timezone": self.timezone}

    def crm_fields(self) -> dict[str, Any]:
        """LeadRelay's own fields for the CRM; None values left out."""
        values = {"leadrelay_enriched": self.summary() or None, "leadrelay_email_type": self.email_type,
                  "leadrelay_timezone": self.timezone}
        return {k: v for k, v in values.items() if v is not None}


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def enrich(fields: Mapping[str, Any]) -> Enrichment:
    """What the lead's own fields tell about its blanks; never overwrites a value it was given."""
    given = {k: _text(v) for k, v in fields.items()}
    filled: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def fill(name: str, value: Any, source: str) -> None:
        if value and not given.get(name) and name not in filled:
            filled[name] = value
            sources[name] = source

    country = normalize_country(given.get("country"))
    phone = phone_facts(given.get("phone") or given.get("mobile"), country)
    if phone is not None and phone.country and not given.get("country"):
        country = phone.country
        fill("country", phone.country, phone.label)
    state = normalize_state(given.get("state"), country or None) if given.get("state") else None

    timezone, zone_source, county = None, "", None
    place = zip_facts(given.get("postcode")) if country in ("US", None) else None
    # a five-digit postcode is a US ZIP only when the lead is in the US: German, French, Spanish … postcodes are five
    # digits too (a lead with no country counts as US when its state agrees with the ZIP's)
    if place is not None and (country == "US" or state == place.state):
        source = f"ZIP {place.zip}"
        for name, value in (("city", place.city), ("state", place.state), ("country", "US")):
            fill(name, value, source)
        if place.county and not given.get("county"):
            county = place.county
            sources["county"] = source
        state = state or place.state
        timezone, zone_source = place.timezone, source
    if timezone is None:
        timezone, zone_source = _coarser_zone(phone, state, country)
    if timezone:
        sources["timezone"] = zone_source

    kind = email_type(given.get("email"))
    if kind:
        sources["email_type"] = EMAIL_SOURCE
    parts = split_email(given.get("email"))
    domain = registrable_domain(parts[1]) if parts else None
    domain = domain or registrable_domain(given.get("website"))
    return Enrichment(filled, _ordered(sources), kind, timezone, domain, phone.area if phone else None, county)


def _ordered(sources: dict[str, str]) -> dict[str, str]:
    """Country first where the phone told it, then the place fields in reading order (city, state, county)."""
    order = ("country", "city", "state", "county", "timezone", "email_type")
    return {k: sources[k] for k in sorted(sources, key=lambda k: order.index(k) if k in order else len(order))}


def _coarser_zone(phone: PhoneFacts | None, state: str | None, country: str | None) -> tuple[str | None, str]:
    """Without a ZIP: the phone's zone, else the state's, else the country's, where there is exactly one."""
    if phone is not None and (found := _phone_zone(phone, state, country))[0]:
        return found  # type: ignore[return-value]
    if state and country in ("US", None) and len(zones := state_zones().get(state, ())) == 1:
        return next(iter(zones)), f"state {state}"
    if zone := country_zone(country):
        return zone, f"country {country}"
    return None, ""


def _phone_zone(phone: PhoneFacts, state: str | None, country: str | None) -> tuple[str | None, str | None]:
    if len(phone.zones) == 1:
        return phone.zones[0], phone.label
    if state and phone.zones and country in ("US", None):
        narrowed = set(phone.zones) & state_zones().get(state, frozenset())
        if len(narrowed) == 1:
            return next(iter(narrowed)), f"{phone.label} in {state}"
    return None, None
