"""US ZIP → city, state, county, time zone, from the `zipcodes` package's bundled data (no download, no SQLite).

The package's own `matching()` scans all 42,000 ZIPs on every call (~200 µs); the lookup here indexes them once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

ZIP = re.compile(r"^\s*(\d{5})(?:[\s-]?\d{4})?\s*$")


@dataclass(frozen=True)
class ZipFacts:
    zip: str
    city: str
    state: str  # USPS code ("TX")
    county: str | None
    timezone: str | None


@cache
def _index() -> dict[str, ZipFacts]:
    import zipcodes
    index: dict[str, ZipFacts] = {}
    for row in zipcodes.list_all():
        if not row.get("active", True) and row["zip_code"] in index:
            continue  # a retired ZIP never hides the live one
        index[row["zip_code"]] = ZipFacts(row["zip_code"], row["city"].title(), row["state"],
                                          row.get("county") or None, row.get("timezone") or None)
    return index


@cache
def state_zones() -> dict[str, frozenset[str]]:
    """Every time zone a state's ZIPs are in (TX: Chicago and Denver, El Paso being on mountain time)."""
    zones: dict[str, set[str]] = {}
    for facts in _index().values():
        if facts.timezone:
            zones.setdefault(facts.state, set()).add(facts.timezone)
    return {state: frozenset(found) for state, found in zones.items()}


def zip5(postcode: str | None) -> str | None:
    match = ZIP.match(postcode or "")
    return match.group(1) if match else None


def zip_facts(postcode: str | None) -> ZipFacts | None:
    code = zip5(postcode)
    return _index().get(code) if code else None
