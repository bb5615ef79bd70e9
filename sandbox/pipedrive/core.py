"""Shared helpers of the Pipedrive emulator: times, ids, JSON envelopes, errors, users."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import jsonify

from sandbox.state import Account

NAME = "pipedrive"
# Objects the v2 API and webhooks v2 know; maps API path segment -> webhook entity name.
ENTITY = {"persons": "person", "organizations": "organization", "deals": "deal",
          "activities": "activity", "leads": "lead"}
OBJECT_TYPES = tuple(ENTITY)
# Pipedrive's generic error hint, as in https://pipedrive.readme.io/docs/core-api-concepts-responses
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
LEAD_NS = uuid.UUID("6f1c7a52-3c1e-4d0a-9d8e-5b0c2e7f9a11")


class PdError(Exception):
    """An API error answered in Pipedrive's error envelope."""

    def __init__(self, status: int, error: str, error_info: str = ERROR_INFO, code: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.error_info, self.code = status, error, error_info, code

    def response(self):
        return error_response(self.status, self.error, self.error_info, self.code)


def error_response(status: int, error: str, error_info: str = ERROR_INFO, code: str | None = None):
    """Pipedrive's error schema: success/error/error_info/data/additional_data (+errorCode on auth/limits)."""
    body: dict[str, Any] = {"success": False, "error": error, "error_info": error_info,
                            "data": None, "additional_data": None}
    if status in (401, 403, 429):
        body["errorCode"] = status  # the v1 401/429 bodies carry a numeric errorCode
    if code:
        body["code"] = code
    return jsonify(body), status


def ok(data: Any, additional_data: Any = None, status: int = 200):
    """Pipedrive's success envelope."""
    body: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        body["additional_data"] = additional_data
    return jsonify(body), status


# times -------------------------------------------------------------------------------------
def iso(ts: float | None = None) -> str:
    """v2 timestamp format, e.g. 2021-01-01T00:00:00Z."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(ts: float | None = None) -> str:
    """Webhook meta timestamp / lead times, e.g. 2023-01-01T00:00:00.000Z."""
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def v1_time(value: str | None) -> str | None:
    """v2 ISO time -> v1 'YYYY-MM-DD HH:MM:SS'."""
    if not value:
        return value
    return value.replace("T", " ").replace("Z", "")[:19]


def parse_time(value: str) -> float:
    """RFC3339 (v2 filters) or v1 'YYYY-MM-DD HH:MM:SS' -> epoch seconds; ValueError if malformed."""
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# ids -----------------------------------------------------------------------------------------
def next_id(account: Account, object_type: str) -> int:
    """Per-company id sequence (Pipedrive ids are per company). Caller holds store.lock."""
    seq = account.extra.setdefault("seq", {})
    seq[object_type] = seq.get(object_type, 0) + 1
    return seq[object_type]


def lead_id(account: Account) -> str:
    """Leads have UUID ids; deterministic per account and sequence so seeds are reproducible."""
    return str(uuid.uuid5(LEAD_NS, f"{account.id}:{next_id(account, 'leads')}"))


# users -----------------------------------------------------------------------------------------
def users(account: Account) -> list[dict[str, Any]]:
    return account.extra.setdefault("users", [])


def user(account: Account, user_id: Any) -> dict[str, Any] | None:
    for u in users(account):
        if str(u["id"]) == str(user_id):
            return u
    return None


def admin_user(account: Account) -> dict[str, Any]:
    """The company's first admin (the installing user in the sandbox)."""
    return next((u for u in users(account) if u.get("is_admin")), users(account)[0])


def company_id(account: Account) -> int:
    return int(account.extra["company_id"])


def company_domain(account: Account) -> str:
    return account.extra["company_domain"]


def as_bool(value: Any) -> bool:
    """Query/body booleans: true/false, 1/0."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
