"""Due times of business-hours durations (README "Business-hours durations"), table-driven: `h` and `m` count
working time, `d` counts working days; weekend and after-hours arrivals, public holidays, out of office, shorter
days, lunch breaks and DST changes. Each row: (why, arrival in the owner's zone, duration as the rule set writes
it, calendar, expected due time in the owner's zone)."""
from __future__ import annotations

import datetime as dt

import pytest

from integration.followup.business_hours import Calendar, NoWorkingTime, add_business_time, due_at
from integration.rules.values import parse_date_range, parse_duration, parse_hours, zone

BERLIN, NY, STOCKHOLM = zone("Europe/Berlin"), zone("America/New_York"), zone("Europe/Stockholm")
DE = Calendar("Europe/Berlin", country="DE")  # Mon-Fri 09:00-17:00 (no `hours` given) and German holidays
SE = Calendar("Europe/Stockholm", country="SE")
US = Calendar("America/New_York", country="US")
SHORT_FRIDAY = Calendar("Europe/Berlin", hours=parse_hours("Mon-Thu 08:30-17:30, Fri 08:30-14:00"))
LUNCH = Calendar("Europe/Berlin", hours=parse_hours("Mon-Fri 09:00-12:00, Mon-Fri 13:00-17:00"))
AWAY = Calendar("Europe/Berlin", out_of_office=(parse_date_range("2026-07-06..2026-07-07"),))
WEEKENDS = Calendar("Europe/Berlin", hours=parse_hours("Sat-Sun 10:00-16:00"))


def at(tz, *parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=tz)


DAYS = [  # `d`: working days
    ("Saturday arrival: Monday is the 1st day, due at the close of Tuesday (it was Monday of the following week)",
     at(STOCKHOLM, 2026, 7, 4, 11, 0), "2d", SE, at(STOCKHOLM, 2026, 7, 7, 17, 0)),
    ("Sunday night arrival, 1d: the close of Monday", at(BERLIN, 2026, 7, 5, 23, 59), "1d", DE,
     at(BERLIN, 2026, 7, 6, 17, 0)),
    ("Friday after hours, 1d: the close of Monday", at(BERLIN, 2026, 7, 10, 18, 0), "1d", DE,
     at(BERLIN, 2026, 7, 13, 17, 0)),
    ("before opening: that day is the 1st", at(BERLIN, 2026, 7, 6, 8, 0), "2d", DE, at(BERLIN, 2026, 7, 7, 17, 0)),
    ("at opening: that day is the 1st", at(BERLIN, 2026, 7, 6, 9, 0), "1d", DE, at(BERLIN, 2026, 7, 6, 17, 0)),
    ("within hours: the same clock time N working days later", at(BERLIN, 2026, 7, 7, 10, 30), "2d", DE,
     at(BERLIN, 2026, 7, 9, 10, 30)),
    ("within hours on Friday: over the weekend", at(BERLIN, 2026, 7, 10, 15, 45), "1d", DE,
     at(BERLIN, 2026, 7, 13, 15, 45)),
    ("a public holiday in between (Ascension, Thu 14 May 2026) is skipped", at(BERLIN, 2026, 5, 13, 16, 0), "1d",
     DE, at(BERLIN, 2026, 5, 15, 16, 0)),
    ("arrival on a holiday (Good Friday), next day also one (Easter Monday)", at(BERLIN, 2026, 4, 3, 10, 0), "1d",
     DE, at(BERLIN, 2026, 4, 7, 17, 0)),
    ("the same dates without the owner's country: no holidays", at(BERLIN, 2026, 4, 3, 10, 0), "1d",
     Calendar("Europe/Berlin"), at(BERLIN, 2026, 4, 6, 10, 0)),
    ("out of office Mon-Tue: Wednesday is the 1st day", at(BERLIN, 2026, 7, 4, 11, 0), "2d", AWAY,
     at(BERLIN, 2026, 7, 9, 17, 0)),
    ("a shorter Friday: its close when the clock time is past it", at(BERLIN, 2026, 7, 9, 15, 0), "1d",
     SHORT_FRIDAY, at(BERLIN, 2026, 7, 10, 14, 0)),
    ("arrival in the lunch break: from 13:00, due when Tuesday's morning ends (12:00 is 13:00 in working time)",
     at(BERLIN, 2026, 7, 6, 12, 30), "1d", LUNCH, at(BERLIN, 2026, 7, 7, 12, 0)),
    ("clock time inside the target day's lunch break: the end of the morning", at(BERLIN, 2026, 7, 6, 11, 59), "1d",
     LUNCH, at(BERLIN, 2026, 7, 7, 11, 59)),
    ("a weekend-only owner: Friday arrival, the close of Saturday", at(BERLIN, 2026, 7, 10, 11, 0), "1d", WEEKENDS,
     at(BERLIN, 2026, 7, 11, 16, 0)),
    ("DST starts (Sun 29 Mar 2026): the same local time, one hour less in UTC", at(BERLIN, 2026, 3, 27, 10, 30),
     "1d", DE, at(BERLIN, 2026, 3, 30, 10, 30)),
    ("DST ends (Sun 1 Nov 2026 in New York) within 2 days", at(NY, 2026, 10, 30, 15, 0), "2d", US,
     at(NY, 2026, 11, 3, 15, 0)),
    ("US holiday (Labor Day) after a Friday evening arrival", at(NY, 2026, 9, 4, 18, 0), "1d", US,
     at(NY, 2026, 9, 8, 17, 0)),
]

HOURS = [  # `h` and `m`: working time
    ("Friday evening, 4h: Monday morning", at(BERLIN, 2026, 7, 10, 18, 0), "4h", DE, at(BERLIN, 2026, 7, 13, 13, 0)),
    ("Friday 16:00, 4h: 1 h Friday, 3 h Monday", at(BERLIN, 2026, 7, 10, 16, 0), "4h", DE,
     at(BERLIN, 2026, 7, 13, 12, 0)),
    ("Saturday, 30m: Monday 09:30", at(BERLIN, 2026, 7, 4, 11, 0), "30m", DE, at(BERLIN, 2026, 7, 6, 9, 30)),
    ("24h is three 8-hour working days, not one day", at(BERLIN, 2026, 7, 4, 11, 0), "24h", DE,
     at(BERLIN, 2026, 7, 8, 17, 0)),
    ("a holiday is skipped (Labor Day)", at(NY, 2026, 9, 4, 18, 0), "4h", US, at(NY, 2026, 9, 8, 13, 0)),
    ("over the lunch break", at(BERLIN, 2026, 7, 6, 11, 0), "2h", LUNCH, at(BERLIN, 2026, 7, 6, 14, 0)),
    ("across DST: working hours stay 09:00-17:00 local", at(BERLIN, 2026, 3, 27, 16, 0), "4h", DE,
     at(BERLIN, 2026, 3, 30, 12, 0)),
]


@pytest.mark.parametrize(("why", "arrival", "duration", "calendar", "expected"), DAYS + HOURS,
                         ids=[row[0] for row in DAYS + HOURS])
def test_business_hours_due_time(why, arrival, duration, calendar, expected):
    due = add_business_time(arrival, parse_duration(duration), calendar)
    assert due == expected, f"{why}: due {due.astimezone(expected.tzinfo):%a %Y-%m-%d %H:%M}"
    assert due.tzinfo == dt.UTC


def test_the_dst_row_is_one_hour_shorter_in_utc():
    friday = at(BERLIN, 2026, 3, 27, 10, 30)
    due = add_business_time(friday, parse_duration("1d"), DE)
    assert (friday.astimezone(dt.UTC).hour, due.astimezone(dt.UTC).hour) == (9, 8)  # CET, then CEST


def test_wall_clock_policies_count_24_hour_days():
    saturday = at(STOCKHOLM, 2026, 7, 4, 11, 0)
    assert due_at(saturday, parse_duration("2d"), False, SE) == at(STOCKHOLM, 2026, 7, 6, 11, 0)
    assert due_at(saturday, parse_duration("5m"), False, SE) == at(STOCKHOLM, 2026, 7, 4, 11, 5)


def test_a_calendar_without_working_time_is_an_error_not_a_hang():
    never = Calendar("Europe/Berlin", out_of_office=(parse_date_range("2026-01-01..2030-12-31"),))
    with pytest.raises(NoWorkingTime):
        add_business_time(at(BERLIN, 2026, 7, 4, 11, 0), parse_duration("1d"), never)
    with pytest.raises(NoWorkingTime):
        add_business_time(at(BERLIN, 2026, 7, 4, 11, 0), parse_duration("1h"), never)
