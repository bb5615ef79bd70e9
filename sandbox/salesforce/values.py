"""Salesforce value formats: datetimes, dates, field coercion, and the API error type."""
from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.schema import Field

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SFError(Exception):
    """An error Salesforce reports as {"message", "errorCode", "fields"} (REST) or a SOAP Error."""

    def __init__(self, code: str, message: str, status: int = 400, fields: list[str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, list(fields or [])
        self.extra = dict(extra or {})  # more keys of the REST error (e.g. a duplicate rule's details)

    def rest(self) -> dict[str, Any]:
        body: dict[str, Any] = {**self.extra, "message": self.message, "errorCode": self.code}
        if self.fields:
            body["fields"] = self.fields
        return body

    def save_error(self) -> dict[str, Any]:
        """The Error shape inside SaveResults (sObject Collections) and SOAP results."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def format_datetime(moment: dt.datetime) -> str:
    """The REST API's datetime format: 2024-01-15T10:30:00.000+0000 (always UTC)."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> dt.datetime | None:
    """Parse the API's and SOQL's datetime spellings (Z, +0000, +00:00, with or without millis)."""
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except (ValueError, AttributeError):
        return None


def stamp(account_extra: dict[str, Any]) -> str:
    """A strictly increasing per-org timestamp, so `LastModifiedDate > cursor` never misses a write."""
    now_ms = int(time.time() * 1000)
    last = int(account_extra.get("last_stamp_ms", 0))
    now_ms = max(now_ms, last + 1)
    account_extra["last_stamp_ms"] = now_ms
    return format_datetime(dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC))


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _parser_error(spec: Field, value: Any) -> SFError:
    kind = {"int": "int", "double": "double", "currency": "double", "percent": "double", "boolean": "boolean",
            "date": "date", "datetime": "datetime"}.get(spec.type, "string")
    return SFError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from VALUE_STRING value "
                   f"{value} or request may be missing a required field")


def _boolean(spec: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise _parser_error(spec, value)


def _number(spec: Field, value: Any) -> float | int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _parser_error(spec, value) from None
    return int(number) if spec.type == "int" else number


def _date(spec: Field, value: Any) -> str:
    parsed = parse_date(str(value))
    if parsed is None:
        raise _parser_error(spec, value)
    return parsed.isoformat()


def _datetime(spec: Field, value: Any) -> str:
    moment = parse_datetime(str(value))
    if moment is None:
        raise _parser_error(spec, value)
    return format_datetime(moment)


def _reference(spec: Field, value: Any) -> str:
    text = str(value)
    if not ids.looks_like_id(text):
        raise SFError("MALFORMED_ID", f"{spec.name}: id value of incorrect type: {text}", fields=[spec.name])
    return ids.to_18(text)


def _email(spec: Field, value: Any) -> str:
    if not _EMAIL_RE.match(str(value)):
        raise SFError("INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {value}", fields=[spec.name])
    return str(value)


_COERCERS = {"boolean": _boolean, "int": _number, "double": _number, "currency": _number, "percent": _number,
             "date": _date, "datetime": _datetime, "reference": _reference, "email": _email}


def coerce(spec: Field, value: Any) -> Any:
    """Convert an incoming JSON value to the stored form of `spec`'s type, or raise SFError."""
    if value is None or (value == "" and spec.type not in ("string", "textarea")):
        return None
    converter = _COERCERS.get(spec.type)
    return converter(spec, value) if converter else str(value)
