"""Listing and searching: v2 cursor paging, updated_since filters, itemSearch-style matching."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from sandbox.pipedrive.core import PdError, parse_time
from sandbox.state import Account

MAX_LIMIT = 500  # "If not provided, 100 items will be returned. ... a maximum value of 500 is allowed."


def _limit(args: dict[str, str]) -> int:
    try:
        limit = int(args.get("limit") or 100)
    except ValueError:
        raise PdError(400, "Validation failed: limit: must be an integer") from None
    if limit < 1 or limit > MAX_LIMIT:
        raise PdError(400, f"Validation failed: limit: must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(data: dict[str, Any]) -> str:
    """Opaque cursor like Pipedrive's (base64 JSON without padding, e.g. {"field":"id","fieldValue":7,...})."""
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise PdError(400, "Validation failed: cursor: Invalid cursor") from None


def filter_rows(rows: list[dict[str, Any]], args: dict[str, str], filters: tuple[str, ...]) -> list[dict]:
    """Equality filters (owner_id, org_id, done, ...) and updated_since/updated_until (RFC3339)."""
    out = [r for r in rows if not r.get("is_deleted")]
    for name in filters:
        if args.get(name) not in (None, ""):
            want = args[name]
            if name == "done":
                want_bool = want.lower() in ("1", "true")
                out = [r for r in out if bool(r.get("done")) == want_bool]
            else:
                out = [r for r in out if str(r.get(name)) == want]
    if args.get("ids"):
        ids = {i.strip() for i in args["ids"].split(",")}
        out = [r for r in out if str(r["id"]) in ids]
    for name, keep in (("updated_since", lambda t, b: t >= b), ("updated_until", lambda t, b: t < b)):
        if args.get(name):
            try:
                bound = parse_time(args[name])
            except ValueError:
                raise PdError(400, f"Validation failed: {name}: must be in RFC3339 format") from None
            out = [r for r in out if keep(parse_time(r["update_time"]), bound)]
    return out


def cursor_page(rows: list[dict[str, Any]], args: dict[str, str], sort_fields: tuple[str, ...],
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sort by sort_by/sort_direction (ties by id) and cut one page; keyset cursor = first item of next page."""
    sort_by = args.get("sort_by") or "id"
    direction = args.get("sort_direction") or "asc"
    if sort_by not in sort_fields:
        raise PdError(400, f"Validation failed: sort_by: must be one of {', '.join(sort_fields)}")
    if direction not in ("asc", "desc"):
        raise PdError(400, "Validation failed: sort_direction: must be one of asc, desc")
    limit = _limit(args)

    def key(row: dict[str, Any]) -> tuple:
        value = row.get(sort_by)
        return (value is None, value if value is not None else "", row["id"])

    rows = sorted(rows, key=key, reverse=direction == "desc")
    if args.get("cursor"):
        cur = decode_cursor(args["cursor"])
        if cur.get("field") != sort_by or cur.get("sortDirection") != direction:
            raise PdError(400, "Validation failed: cursor: does not match sort_by/sort_direction")
        start = (cur.get("fieldValue") is None, cur.get("fieldValue") or "", cur.get("id"))
        rows = [r for r in rows if (key(r) >= start if direction == "asc" else key(r) <= start)]
    page, rest = rows[:limit], rows[limit:]
    next_cursor = None
    if rest:
        first = rest[0]
        next_cursor = encode_cursor({"field": sort_by, "fieldValue": first.get(sort_by),
                                     "sortDirection": direction, "id": first["id"]})
    return page, {"next_cursor": next_cursor}


def offset_page(items: list[Any], args: dict[str, str]) -> tuple[list[Any], dict[str, Any]]:
    """Cursor paging over a computed result list (search): cursor encodes the offset."""
    limit = _limit(args)
    offset = int(decode_cursor(args["cursor"]).get("offset", 0)) if args.get("cursor") else 0
    page = items[offset:offset + limit]
    more = offset + limit < len(items)
    return page, {"next_cursor": encode_cursor({"offset": offset + limit}) if more else None}


# searching --------------------------------------------------------------------------------------------
def digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def _score(term: str, value: str, exact: bool, phone: bool = False) -> float:
    """0 if no match; itemSearch is case-insensitive; phones compare on digits (formatting ignored)."""
    if not value:
        return 0.0
    if phone:
        t, v = digits(term), digits(value)
        if not t:
            return 0.0
    else:
        t, v = term.lower().strip(), value.lower().strip()
    if t == v:
        return 1.0
    if exact:
        return 0.0
    return round(0.3 + 0.5 * len(t) / max(len(v), 1), 4) if t in v else 0.0


def check_term(args: dict[str, str]) -> tuple[str, bool]:
    term = (args.get("term") or "").strip()
    exact = (args.get("exact_match") or "").lower() in ("1", "true")
    if len(term) < (1 if exact else 2):
        raise PdError(400, "Validation failed: term: Minimum 2 characters (or 1 if using exact_match)")
    return term, exact


def search_persons(account: Account, term: str, exact: bool, fields: set[str], org_id: str | None) -> list[dict]:
    """GET /v2/persons/search result items, best score first."""
    orgs = account.table("organizations")
    results = []
    for row in account.table("persons").values():
        if row.get("is_deleted") or (org_id and str(row.get("org_id")) != org_id):
            continue
        scores = [0.0]
        if "name" in fields:
            scores.append(_score(term, row.get("name") or "", exact))
        if "email" in fields:
            scores += [_score(term, e["value"], exact) for e in row.get("emails", [])]
        if "phone" in fields:
            scores += [_score(term, p["value"], exact, phone=True) for p in row.get("phones", [])]
        matched_custom = _custom_matches(row, term, exact) if "custom_fields" in fields else []
        if matched_custom:
            scores.append(0.5)
        if max(scores) > 0:
            org = orgs.get(str(row.get("org_id"))) if row.get("org_id") else None
            results.append({"result_score": max(scores), "item": {
                "id": row["id"], "type": "person", "name": row.get("name"),
                "phones": [p["value"] for p in row.get("phones", [])],
                "emails": [e["value"] for e in row.get("emails", [])], "visible_to": row.get("visible_to"),
                "owner": {"id": row.get("owner_id")},
                "organization": ({"id": org["id"], "name": org["name"], "address": _addr(org)} if org else None),
                "custom_fields": matched_custom, "notes": []}})
    return sorted(results, key=lambda r: (-r["result_score"], r["item"]["id"]))


def search_organizations(account: Account, term: str, exact: bool, fields: set[str]) -> list[dict]:
    """GET /v2/organizations/search result items (name, address, custom fields such as the website)."""
    results = []
    for row in account.table("organizations").values():
        if row.get("is_deleted"):
            continue
        scores = [0.0]
        if "name" in fields:
            scores.append(_score(term, row.get("name") or "", exact))
        if "address" in fields:
            scores.append(_score(term, _addr(row) or "", exact))
        matched_custom = _custom_matches(row, term, exact) if "custom_fields" in fields else []
        if matched_custom:
            scores.append(0.5)
        if max(scores) > 0:
            results.append({"result_score": max(scores), "item": {
                "id": row["id"], "type": "organization", "name": row["name"], "address": _addr(row),
                "visible_to": row.get("visible_to"), "owner": {"id": row.get("owner_id")},
                "custom_fields": matched_custom, "notes": []}})
    return sorted(results, key=lambda r: (-r["result_score"], r["item"]["id"]))


def _custom_matches(row: dict[str, Any], term: str, exact: bool) -> list[str]:
    return [str(v) for v in (row.get("custom_fields") or {}).values()
            if isinstance(v, str | int | float) and _score(term, str(v), exact) > 0]


def _addr(org: dict[str, Any]) -> str | None:
    return (org.get("address") or {}).get("value")
