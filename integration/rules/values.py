"""The small textual formats inside a rule set: durations, working hours, out-of-office ranges, postcodes."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

_DURATION = re.compile(r"(\d+)([mhd])")
_HOURS_SEGMENT = re.compile(r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d\d):(\d\d)-(\d\d):(\d\d)")
_DATE_RANGE = re.compile(r"(\d{4}-\d\d-\d\d)(?:\.\.(\d{4}-\d\d-\d\d))?")
# A postcode prefix is digits optionally followed by letters (NL "1234AB"), or starts with a letter
# (UK "SW1A", CA "K1A", IE "D02"); a digit after a letter after a digit fits no country ("9A1").
_POSTCODE_PREFIX = re.compile(r"\d+[A-Z]*|[A-Z][A-Z0-9]*")


def quote(value: object) -> str:
    """A value as the admin typed it, quoted the way error messages show it."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


class Days(dt.timedelta):
    """A duration written in days (`2d`). On the wall clock it is 48 hours like any timedelta; in business hours
    it counts working days, not 24-hour blocks of working time (integration/followup/business_hours.py)."""

    __slots__ = ()

    def __new__(cls, days: int) -> Days:
        return super().__new__(cls, days=days)

    def __reduce__(self) -> tuple:
        return Days, (self.days,)


def parse_duration(value: object) -> dt.timedelta:
    """`30m`, `4h`, `2d` → a positive timedelta (`Days` for `d`, which business hours count in working days)."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{quote(value)} is not a duration (a positive number with m, h or d: 30m, 4h, 2d)")
    if match.group(2) == "d":
        return Days(int(match.group(1)))
    return dt.timedelta(**{DURATION_UNITS[match.group(2)]: int(match.group(1))})


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_timezone(value: str) -> str:
    try:
        zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{quote(value)} is not an IANA time zone (e.g. America/Los_Angeles)") from None
    return value


@dataclass(frozen=True)
class WeeklyHours:
    """Working hours per weekday (0 = Monday) as half-open minute ranges [start, end)."""

    text: str
    windows: tuple[tuple[tuple[int, int], ...], ...]

    def covers(self, local: dt.datetime) -> bool:
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.windows[local.weekday()])


def _minutes(hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    return h * 60 + m if (h < 24 and m < 60) or (h == 24 and m == 0) else None


def _day_span(first: str, last: str | None) -> list[int] | None:
    if first not in DAYS or (last is not None and last not in DAYS):
        return None
    start, end = DAYS.index(first), DAYS.index(last or first)
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]  # "Sat-Mon" wraps over the week end


def parse_hours(value: object) -> WeeklyHours:
    """`Mon-Fri 09:00-17:00`, several segments separated by commas (`Mon-Thu 09:00-17:00, Fri 09:00-13:00`)."""
    bad = ValueError(f'{quote(value)} is not working hours like "Mon-Fri 09:00-17:00" (start before end, '
                     f'segments separated by commas)')
    if not isinstance(value, str) or not value.strip():
        raise bad
    windows: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for segment in value.lower().split(","):
        match = _HOURS_SEGMENT.fullmatch(segment.strip())
        days = match and _day_span(match.group(1), match.group(2))
        start = match and _minutes(match.group(3), match.group(4))
        end = match and _minutes(match.group(5), match.group(6))
        if not days or start is None or end is None or start >= end:
            raise bad
        for day in days:
            windows[day].append((start, end))
    return WeeklyHours(value, tuple(tuple(sorted(w)) for w in windows))


def parse_date_range(value: object) -> tuple[dt.date, dt.date]:
    """`2026-12-24..2026-12-31` (inclusive) or one date `2026-12-24`."""
    match = _DATE_RANGE.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        first = dt.date.fromisoformat(match.group(1)) if match else None
        last = dt.date.fromisoformat(match.group(2) or match.group(1)) if match else None
    except ValueError:
        first = last = None
    if first is None or last is None or last < first:
        raise ValueError(f"{quote(value)} is not a date range like \"2026-12-24..2026-12-31\" (first ≤ last)")
    return first, last


def postcode_key(value: str) -> str:
    """The form postcodes are compared in: upper case, without spaces or hyphens."""
    return re.sub(r"[\s-]+", "", value).upper()


def parse_postcode_spec(value: object) -> tuple[str, str]:
    """A prefix (`954`) or an inclusive range of equal-length prefixes (`940-951`) → (low, high)."""
    bad = ValueError(f"{quote(value)} is not a postcode or range")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad
    parts = [postcode_key(p) for p in str(value).strip().split("-")] if str(value).strip() else []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(_POSTCODE_PREFIX.fullmatch(p) for p in parts):
        raise bad
    low, high = parts
    if len(low) != len(high) or low > high:
        raise ValueError(f"{quote(value)} is not a postcode or range (a range joins two prefixes of equal "
                         f"length, low first)")
    return low, high
