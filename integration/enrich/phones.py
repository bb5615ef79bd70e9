"""What a phone number tells offline (phonenumbers' own data): its country, the area it belongs to, its time zones."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone

UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True)
class PhoneFacts:
    country: str | None  # ISO region code ("US")
    area: str | None  # geocoder's English description ("Dallas, TX", "Berlin")
    zones: tuple[str, ...]  # every IANA zone the number may be in (one for most geographic numbers)
    label: str  # how the number is named as a source: "phone +1 214…" (never the whole number)


@lru_cache(maxsize=4096)
def phone_facts(phone: str | None, country: str | None) -> PhoneFacts | None:
    text = (phone or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    region = phonenumbers.region_code_for_number(number)
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != UNKNOWN_ZONE)
    national = str(number.national_number)
    return PhoneFacts(country=region if region and region != "ZZ" else None,
                      area=_area(number), zones=zones,
                      label=f"phone +{number.country_code} {national[:3]}…")


def _area(number: phonenumbers.PhoneNumber) -> str | None:
    # imported on first use: the geocoder's data costs a third of a second, which the web process and the CLI
    # (that import the pipeline but never enrich) should not pay at start-up; workers load it at start (worker.py)
    from phonenumbers import geocoder

    return geocoder.description_for_number(number, "en") or None

