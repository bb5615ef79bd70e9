"""Bounded parsing of untrusted request input: console query strings, ids in URLs, JSON nesting.

A value the database or the datetime library cannot hold answers 400 with a message naming the parameter (or
404, for an id in the path), never a 500: an integer past SQL INTEGER overflows PostgreSQL's parameter cast (past
BIGINT, SQLite's binding), a date near year 9999 overflows `date + timedelta`, PostgreSQL's text type refuses a
NUL character, and JSON nested a few thousand levels deep makes Python's json raise RecursionError.
"""
from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Iterable, Mapping
from itertools import accumulate, count

from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

# Every id column (and the rule-set version) is SQL INTEGER: 4 bytes on PostgreSQL, which casts each bound
# parameter to the column's type (so 2**31 fails there, where SQLite's 8-byte INTEGER fails only past 2**63).
ID_MAX = 2**31 - 1
# Console dates: wide enough for any CRM's history, far enough from the ends of `datetime.date` that a day
# added or a UTC midnight taken never overflows.
EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
MAX_TEXT = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ParamError(BadRequest):
    """A query-string (or form) value out of its range: 400, the message names the parameter."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(description=f"{name}: {problem}")
        self.param = name


def _raw(args: Mapping[str, str], name: str) -> str:
    return (args.get(name) or "").strip()


def int_arg(args: Mapping[str, str], name: str, minimum: int = 1, maximum: int = ID_MAX) -> int | None:
    """A whole number in [minimum, maximum], or None when absent or blank."""
    text = _raw(args, name)
    if not text:
        return None
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)) \
            or not minimum <= int(text) <= maximum:
        raise ParamError(name, f"expected a whole number from {minimum} to {maximum}")
    return int(text)


def date_arg(args: Mapping[str, str], name: str) -> dt.date | None:
    """A YYYY-MM-DD date between EARLIEST_DATE and LATEST_DATE, or None when absent or blank."""
    text = _raw(args, name)
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text) if _DATE.fullmatch(text) else None
    except ValueError:  # 2024-02-30
        day = None
    if day is None or not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ParamError(name, f"expected a date YYYY-MM-DD from {EARLIEST_DATE} to {LATEST_DATE}")
    return day


def choice_arg(args: Mapping[str, str], name: str, choices: Iterable[str], default: str) -> str:
    """One of `choices`; `default` when absent or blank."""
    text, allowed = _raw(args, name), tuple(choices)
    if not text:
        return default
    if text not in allowed:
        raise ParamError(name, f"expected one of {', '.join(allowed)}")
    return text


def text_arg(args: Mapping[str, str], name: str, max_length: int = MAX_TEXT) -> str:
    """Free text (stripped) of at most `max_length` characters and no control characters; "" when absent."""
    text = _raw(args, name)
    if len(text) > max_length:
        raise ParamError(name, f"at most {max_length} characters")
    if _CONTROL.search(text):
        raise ParamError(name, "control characters are not allowed")
    return text


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that matches nothing past ID_MAX, so a huge id in a URL is a 404 like any unknown id."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = ID_MAX, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


# JSON nesting, measured on the raw bytes before any parsing ---------------------------------------------------
# Strings are cut out first (an unterminated one runs to the end, so the scan stays linear); then each bracket
# is a step up or down and the running sum is the depth. All of it runs in C: under 50 ms for the worst 1 MB body.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # open: 2, close: 0; minus 1 per bracket below


def json_too_deep(body: bytes, limit: int) -> bool:
    """True when the JSON text nests arrays and objects more than `limit` levels deep."""
    steps = _JSON_STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKET)
    if len(steps) <= limit:
        return False
    depths = map(operator.sub, accumulate(steps), count(1))
    return next(filter(limit.__lt__, depths), None) is not None
