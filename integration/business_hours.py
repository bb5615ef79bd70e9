"""Due times in an owner's working hours: time zone, weekly hours, out of office, public holidays, across DST.

A duration "in business hours" is consumed only inside the owner's working windows (RULES.md "Durations"):
`4h` from Friday 18:00 with `Mon-Fri 09:00-17:00` is Monday 13:00, or Tuesday 13:00 when Monday is a
public holiday of the owner's country. Windows are built in local wall-clock time and converted with
zoneinfo, so a window on a DST-change day has the real length of that day (a 09:00-17:00 day is 8 h
either way; a window that spans the change is one hour shorter or longer in elapsed time).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays

from integration.rules.model import Owner, RuleSet
from integration.rules.values import WeeklyHours, parse_hours, zone

# Business hours with no `hours` given: an SLA that says "business hours" means a working week, not 24/7.
DEFAULT_HOURS = parse_hours("Mon-Fri 09:00-17:00")
MAX_DAYS = 3 * 366  # a calendar with no working time at all must not loop forever


class NoWorkingTime(ValueError):
    """The calendar has no working window within MAX_DAYS (e.g. out of office for years)."""


@dataclass(frozen=True)
class Calendar:
    """One owner's working time."""

    timezone: str
    hours: WeeklyHours = DEFAULT_HOURS
    country: str | None = None
    out_of_office: tuple[tuple[dt.date, dt.date], ...] = ()

    def is_working_day(self, day: dt.date) -> bool:
        if self.country and day in _holidays(self.country, day.year):
            return False
        return not any(first <= day <= last for first, last in self.out_of_office)

    def windows(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The day's working windows as aware UTC datetimes (empty on holidays and days off)."""
        if not self.is_working_day(day):
            return []
        tz = zone(self.timezone)
        return [(_local(day, start, tz), _local(day, end, tz)) for start, end in self.hours.windows[day.weekday()]]


def _local(day: dt.date, minute: int, tz: dt.tzinfo) -> dt.datetime:
    if minute == 24 * 60:
        day, minute = day + dt.timedelta(days=1), 0
    local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=tz)
    return local.astimezone(dt.UTC)


@lru_cache(maxsize=128)
def _holidays(country: str, year: int) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError:  # a country the library has no calendar for: no public holidays
        return holidays.HolidayBase()


def calendar_for(rules: RuleSet, email: str | None) -> Calendar:
    """The rules' owner entry for `email` (hours, time zone, country, absence), else the rule set's defaults."""
    owner: Owner | None = rules.owners_by_email.get((email or "").lower())
    return Calendar(timezone=rules.owner_timezone((email or "").lower()),
                    hours=owner.hours if owner and owner.hours else DEFAULT_HOURS,
                    country=owner.country if owner else None,
                    out_of_office=tuple(owner.out_of_office) if owner else ())


def add_business_time(start: dt.datetime, duration: dt.timedelta, calendar: Calendar) -> dt.datetime:
    """`start` plus `duration` counted only inside the calendar's working windows (aware UTC result)."""
    cursor, left = start.astimezone(dt.UTC), duration
    day = cursor.astimezone(zone(calendar.timezone)).date() - dt.timedelta(days=1)  # a window may start yesterday
    for _ in range(MAX_DAYS):
        for opens, closes in calendar.windows(day):
            begin = max(opens, cursor)
            if begin >= closes:
                continue
            if closes - begin >= left:
                return begin + left
            left -= closes - begin
            cursor = closes
        day += dt.timedelta(days=1)
    raise NoWorkingTime(f"no working time within {MAX_DAYS} days of {start.isoformat()}")


def due_at(start: dt.datetime, duration: dt.timedelta, business_hours: bool, calendar: Calendar) -> dt.datetime:
    """When something `duration` after `start` is due: wall clock, or the owner's business hours."""
    if not business_hours:
        return start.astimezone(dt.UTC) + duration
    return add_business_time(start, duration, calendar)
