"""Person fields (API v1): GET /api/v1/personFields and POST /api/v1/personFields.

https://developers.pipedrive.com/docs/api/v1/PersonFields — a created field gets a 40-character hash `key`;
persons then carry its value under that key (v2: in `custom_fields`). Built-in person fields are listed
with their plain keys and edit_flag false. Field names need not be unique (as in Pipedrive). Kept per
company in account.extra["person_fields"].
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from sandbox.context import Sandbox
from sandbox.pipedrive.core import PdError, iso, ok
from sandbox.pipedrive.guard import body, check
from sandbox.pipedrive.limits import RateLimiter
from sandbox.pipedrive.model import custom_field_key
from sandbox.state import Account

FIELD_TYPES = frozenset({"varchar", "varchar_auto", "text", "double", "monetary", "date", "set", "enum", "user",
                         "org", "people", "phone", "time", "timerange", "daterange", "address"})
BUILTIN = ({"key": "name", "name": "Name", "field_type": "varchar"},
           {"key": "owner_id", "name": "Owner", "field_type": "user"},
           {"key": "org_id", "name": "Organization", "field_type": "org"},
           {"key": "email", "name": "Email", "field_type": "varchar"},
           {"key": "phone", "name": "Phone", "field_type": "phone"})


def custom_fields(account: Account) -> list[dict[str, Any]]:
    """The company's created person fields."""
    return account.extra.setdefault("person_fields", [])


def all_fields(account: Account) -> list[dict[str, Any]]:
    builtin = [{"id": n, **spec, "edit_flag": False, "active_flag": True, "mandatory_flag": spec["key"] == "name"}
               for n, spec in enumerate(BUILTIN, start=1)]
    return builtin + [dict(f) for f in custom_fields(account)]


def create_field(account: Account, data: dict[str, Any]) -> dict[str, Any]:
    name, field_type = str(data.get("name") or "").strip(), str(data.get("field_type") or "")
    if not name:
        raise PdError(400, "Validation failed: name: Parameter is required")
    if field_type not in FIELD_TYPES:
        raise PdError(400, f"Validation failed: field_type: must be one of {', '.join(sorted(FIELD_TYPES))}")
    fields = custom_fields(account)
    fid = len(BUILTIN) + len(fields) + 1
    field = {"id": fid, "key": custom_field_key(f"{account.id}.person.{fid}.{name}"), "name": name,
             "field_type": field_type, "edit_flag": True, "active_flag": True, "mandatory_flag": False,
             "add_time": iso(), "update_time": iso(), "options": data.get("options")}
    fields.append(field)
    return dict(field)


def routes(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter) -> None:
    @bp.get("/personFields")
    def list_person_fields():
        c = check(sandbox, limiter, "contacts", False)
        with sandbox.store.lock:
            rows = all_fields(c.account)
        return ok(rows, {"pagination": {"start": 0, "limit": 500, "more_items_in_collection": False}})

    @bp.post("/personFields")
    def add_person_field():
        c = check(sandbox, limiter, "contacts", True)
        data = body()
        with sandbox.store.lock:
            # 200, not 201: the v1 document publishes only a 200 answer for addPersonField
            # (https://developers.pipedrive.com/docs/api/v1/PersonFields#addPersonField)
            return ok(create_field(c.account, data))
