"""Due times in an owner's working hours: time zone, weekly hours, out of office, public holidays, across DST.

How a duration counts when a policy says `business_hours: true` (README "Business-hours durations"):
- `m` and `h` are working time: minutes inside the owner's working windows. `4h` from Friday 18:00 with
  `Mon-Fri 09:00-17:00` is Monday 13:00, or Tuesday 13:00 when Monday is a public holiday of the owner's country.
- `d` is working days, not 24-hour blocks of working time (which made `2d` six 8-hour days). From a moment inside
  working hours, `Nd` is the same local clock time N working days later (Tuesday 10:30 + 2d = Thursday 10:30;
  on a shorter day, that day's close). A lead that arrives outside working hours (evening, weekend, holiday,
  out of office) starts the clock at the next opening, so `Nd` ends at the close of the Nth working day counting
  that one: Saturday + 2d = Tuesday 17:00.
A working day is a day with hours in the owner's week that is neither a public holiday nor out of office.
Windows are built in local wall-clock time and converted with zoneinfo, so a day's hours stay 09:00-17:00 local
across a DST change and a `d` due time keeps its clock time; an `h` duration counts elapsed working time, which
differs only for a window that spans the change itself.
On an accelerated clock (LEADRELAY_TIME_SCALE, the demo's ×60) every duration is divided first (`on_clock`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import holidays

from integration import config
from integration.rules.model import Owner, RuleSet
from integration.rules.values import Days, WeeklyHours, parse_hours, zone

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
    """`start` plus `duration` in the calendar's working time: working days for `Days`, else working minutes."""
    if isinstance(duration, Days):
        return add_working_days(start, duration.days, calendar)
    cursor, left = start.astimezone(dt.UTC), duration
    for _day, opens, closes in _windows_from(cursor, calendar):
        begin = max(opens, cursor)
        if begin >= closes:
            continue  # overlapping segments ("Mon 09:00-12:00, Mon 11:00-13:00") count once
        if closes - begin >= left:
            return begin + left
        left -= closes - begin
        cursor = closes
    raise NoWorkingTime(f"no working time within {MAX_DAYS} days of {start.isoformat()}")


def add_working_days(start: dt.datetime, days: int, calendar: Calendar) -> dt.datetime:
    """`start` plus `days` working days (module docstring): the same clock time N working days later, or the close
    of the Nth working day when the clock starts at a day's opening (a lead that arrived outside working hours)."""
    cursor = start.astimezone(dt.UTC)
    day, opens, _closes = next(iter(_windows_from(cursor, calendar)), (None, None, None))
    if day is None or opens is None:
        raise NoWorkingTime(f"no working time within {MAX_DAYS} days of {start.isoformat()}")
    begin = max(opens, cursor)
    if begin == calendar.windows(day)[0][0]:  # nothing of that day has passed: it is the first of the N days
        return calendar.windows(_working_day_after(day, days - 1, calendar))[-1][1]
    local = begin.astimezone(zone(calendar.timezone))
    return _at_clock_time(_working_day_after(day, days, calendar), local.time(), calendar)


def _windows_from(cursor: dt.datetime, calendar: Calendar) -> Iterator[tuple[dt.date, dt.datetime, dt.datetime]]:
    """(local day, opens, closes) of every working window that ends after `cursor`, in order."""
    day = cursor.astimezone(zone(calendar.timezone)).date() - dt.timedelta(days=1)  # a window may start yesterday
    for _ in range(MAX_DAYS):
        for opens, closes in calendar.windows(day):
            if closes > cursor:
                yield day, opens, closes
        day += dt.timedelta(days=1)


def _working_day_after(day: dt.date, count: int, calendar: Calendar) -> dt.date:
    """The `count`-th working day after `day` (`day` itself for 0)."""
    for _ in range(MAX_DAYS):
        if count <= 0:
            return day
        day += dt.timedelta(days=1)
        if calendar.windows(day):
            count -= 1
    raise NoWorkingTime(f"no {count} working days within {MAX_DAYS} days of {day.isoformat()}")


def _at_clock_time(day: dt.date, clock: dt.time, calendar: Calendar) -> dt.datetime:
    """The latest working moment of `day` at or before local `clock` (its opening when `clock` is earlier)."""
    tz = zone(calendar.timezone)
    moment = dt.datetime.combine(day, clock, tzinfo=tz).astimezone(dt.UTC)
    windows = calendar.windows(day)
    if moment <= windows[0][0]:
        return windows[0][0]
    opens, closes = [w for w in windows if w[0] < moment][-1]
    return min(moment, closes)


def due_at(start: dt.datetime, duration: dt.timedelta, business_hours: bool,
           calendar: Calendar | None = None) -> dt.datetime:
    """When something `duration` after `start` is due: wall clock, or the owner's business hours (`calendar`).

    The one place a rule-set duration becomes a due time, so the only place LEADRELAY_TIME_SCALE applies.
    """
    duration = on_clock(duration)
    if not business_hours:
        return start.astimezone(dt.UTC) + duration
    if calendar is None:
        raise ValueError("a business-hours due time needs the owner's calendar")
    return add_business_time(start, duration, calendar)


def on_clock(duration: dt.timedelta) -> dt.timedelta:
    """A rule-set duration as LeadRelay's clock runs it: divided by the time scale (the demo runs ×60, so `5m` is
    due 5 seconds later). Only durations shrink, never "now": a rep's activity logged in the CRM is compared with
    real times. A `d` duration becomes 24 hours divided too: on an accelerated clock it counts working minutes,
    not working days, in business hours."""
    scale = config.time_scale()
    return duration if scale == 1 else duration / scale
