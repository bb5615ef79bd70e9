"""API v2 (https://developers.pipedrive.com/docs/api/v2): persons, organizations, deals, activities."""
from __future__ import annotations

import copy

from flask import Blueprint, request

from sandbox.context import Sandbox
from sandbox.pipedrive import ops, query
from sandbox.pipedrive.core import PdError, ok
from sandbox.pipedrive.guard import body, check, install_handlers
from sandbox.pipedrive.limits import RateLimiter
from sandbox.pipedrive.model import STAGES, has_campaigns
from sandbox.state import Account

OBJECTS = "any(persons,organizations,deals,activities)"
FAMILY = {"persons": "contacts", "organizations": "contacts", "deals": "deals", "activities": "activities"}
FILTERS = {
    "persons": ("owner_id", "org_id"),
    "organizations": ("owner_id",),
    "deals": ("owner_id", "person_id", "org_id", "pipeline_id", "stage_id", "status"),
    "activities": ("owner_id", "deal_id", "lead_id", "person_id", "org_id", "done"),
}
SORTS = {"activities": ("id", "update_time", "add_time", "due_date")}
PERSON_SEARCH_FIELDS = {"custom_fields", "email", "notes", "phone", "name"}
ORG_SEARCH_FIELDS = {"address", "custom_fields", "notes", "name"}


def blueprint(sandbox: Sandbox, limiter: RateLimiter) -> Blueprint:
    bp = Blueprint("pipedrive_api", __name__, url_prefix="/api/v2")
    install_handlers(bp)

    def ctx(obj: str, write: bool):
        return check(sandbox, limiter, FAMILY.get(obj, "contacts"), write)

    @bp.get(f"/<{OBJECTS}:obj>")
    def list_records(obj: str):
        c = ctx(obj, False)
        with sandbox.store.lock:
            rows = [copy.deepcopy(r) for r in c.account.table(obj).values()]
        rows = query.filter_rows(rows, request.args, FILTERS[obj])
        page, extra = query.cursor_page(rows, request.args, SORTS.get(obj, ("id", "update_time", "add_time")))
        return ok([_included(c.account, obj, row) for row in page], extra)

    @bp.get(f"/<{OBJECTS}:obj>/<int:rid>")
    def get_record(obj: str, rid: int):
        c = ctx(obj, False)
        with sandbox.store.lock:
            return ok(_included(c.account, obj, copy.deepcopy(ops.get_live(c.account, obj, rid))))

    @bp.post(f"/<{OBJECTS}:obj>")
    def create_record(obj: str):
        c = ctx(obj, True)
        return ok(_included(c.account, obj, ops.create(sandbox, c.account, obj, body(), c.actor), write=True))

    @bp.patch(f"/<{OBJECTS}:obj>/<int:rid>")
    def update_record(obj: str, rid: int):
        c = ctx(obj, True)
        return ok(_included(c.account, obj, ops.update(sandbox, c.account, obj, rid, body(), c.actor), write=True))

    @bp.delete(f"/<{OBJECTS}:obj>/<int:rid>")
    def delete_record(obj: str, rid: int):
        c = ctx(obj, True)
        ops.delete(sandbox, c.account, obj, rid, c.actor)
        return ok({"id": rid})

    @bp.get("/persons/search")
    def search_persons():
        c = check(sandbox, limiter, "search", False)
        term, exact = query.check_term(request.args)
        fields = _fields(request.args.get("fields"), PERSON_SEARCH_FIELDS)
        with sandbox.store.lock:
            items = query.search_persons(c.account, term, exact, fields, request.args.get("organization_id"))
        page, extra = query.offset_page(items, request.args)
        return ok({"items": page}, extra)

    @bp.get("/organizations/search")
    def search_organizations():
        c = check(sandbox, limiter, "search", False)
        term, exact = query.check_term(request.args)
        fields = _fields(request.args.get("fields"), ORG_SEARCH_FIELDS)
        with sandbox.store.lock:
            items = query.search_organizations(c.account, term, exact, fields)
        page, extra = query.offset_page(items, request.args)
        return ok({"items": page}, extra)

    @bp.get("/stages")
    def stages():
        check(sandbox, limiter, "deals", False)
        return ok(STAGES, {"next_cursor": None})

    @bp.get("/pipelines")
    def pipelines():
        check(sandbox, limiter, "deals", False)
        return ok([{"id": 1, "name": "Pipeline", "order_nr": 1, "is_deleted": False, "is_deal_probability_enabled":
                    False, "add_time": "2024-01-01T00:00:00Z", "update_time": "2024-01-01T00:00:00Z"}],
                  {"next_cursor": None})

    return bp


def _included(account: Account, obj: str, row: dict, write: bool = False) -> dict:
    """marketing_status only on a company with Campaigns: in a write's answer, and in a read's when include_fields
    asks for it."""
    wanted = write or "marketing_status" in {f.strip() for f in (request.args.get("include_fields") or "").split(",")}
    if obj == "persons" and not (wanted and has_campaigns(account)):
        row.pop("marketing_status", None)
    return row


def _fields(raw: str | None, allowed: set[str]) -> set[str]:
    if not raw:
        return set(allowed)
    fields = {f.strip() for f in raw.split(",") if f.strip()}
    unknown = fields - allowed
    if unknown:
        raise PdError(400, f"Validation failed: fields: unknown field(s) {', '.join(sorted(unknown))}")
    return fields
