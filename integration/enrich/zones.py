"""Countries that lie in one time zone, from phonenumbers' time-zone table (no other data set to keep current)."""
from __future__ import annotations

from functools import cache

import phonenumbers
from phonenumbers.tzdata import TIMEZONE_DATA

from integration.enrich.phones import UNKNOWN_ZONE


@cache
def _zones_by_calling_code() -> dict[str, frozenset[str]]:
    """Calling code → every zone its numbers are in (the table is keyed by number prefixes, code included)."""
    found: dict[str, set[str]] = {}
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        found[str(code)] = set()
    for prefix, zones in TIMEZONE_DATA.items():
        for size in (1, 2, 3):
            if prefix[:size] in found:
                found[prefix[:size]].update(z for z in zones if z != UNKNOWN_ZONE)
                break  # calling codes are prefix-free: only one length can match
    return {code: frozenset(zones) for code, zones in found.items()}


@cache
def country_zone(country: str | None) -> str | None:
    """The one zone of a country that has one (DE → Europe/Berlin); None for several (US) or a shared calling code
    whose table does not tell the countries apart (+44: GB, Jersey, Guernsey, Isle of Man; +1: the NANP)."""
    if not country:
        return None
    code = phonenumbers.country_code_for_region(country)
    if not code or len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())) != 1:
        return None
    zones = _zones_by_calling_code().get(str(code), frozenset())
    return next(iter(zones)) if len(zones) == 1 else None
