"""POST /crm/v3/objects/{type}/search: filterGroups, sorts, query, paging.

Limits since 26 Aug 2024: at most 5 filterGroups, 10 filters per group, 25 filters in total.
https://developers.hubspot.com/changelog/breaking-change-expanded-filtering-capabilities-and-error-messaging-in-hubspots-search-api
Page size max 200, paging stops at 10,000 results (2nd-hand: https://developers.apideck.com/apis/crm/hubspot/gotchas).

Eventual consistency (config.search_lag_ms): "It may take a few moments for newly created or updated CRM objects
to appear in search results" (https://developers.hubspot.com/docs/api/crm/search#limitations); third parties
measured several seconds ("changes made by other API calls will take several seconds to propagate to the search
indexing", https://docs.locoia.com/connectors/connectors/hubspot; "The Search API is eventually consistent",
https://blog.sequin.io/building-a-sync-on-hubspots-api/). Within the lag a search neither finds a new record nor
matches an update's new values: filters, `query` and sorts see the values as they were indexed. The results are
read from the records themselves, current values included, as a recorded real exchange shows (a company whose
domain was changed 1.3 s earlier was found by its OLD domain and returned with its new one; 30 s later the old
domain found nothing: grouparoo/grouparoo, plugins/@grouparoo/hubspot/__tests__/fixtures/export-objects/
export-records-companies.js, 17 Feb 2022). Archiving and merging leave the index at once (not emulated).
"""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from sandbox.hubspot import associations as assoc
from sandbox.hubspot.errors import HubSpotError, validation
from sandbox.hubspot.hubstate import to_ms
from sandbox.hubspot.records import indexed, serialize
from sandbox.hubspot.schema import ObjectType, object_type

if TYPE_CHECKING:
    from sandbox.state import Account

MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS = 5, 10, 25
MAX_LIMIT, MAX_RESULTS = 200, 10_000


def _num(value: Any) -> float | None:
    ms = to_ms(value)
    if ms is not None:
        return float(ms)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(actual: str | None, op: str, wanted: Any, high: Any) -> bool:
    a, w = _num(actual), _num(wanted)
    if actual is None or a is None or w is None:
        return False
    if op == "BETWEEN":
        h = _num(high)
        return h is not None and w <= a <= h
    return {"GT": a > w, "GTE": a >= w, "LT": a < w, "LTE": a <= w}[op]


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.+-]+|[@.]", text.lower()) if t] + [text.lower()]


def _contains_token(actual: str | None, wanted: str) -> bool:
    if actual is None:
        return False
    pattern = "^" + re.escape(str(wanted).lower()).replace(r"\*", ".*") + "$"
    return any(re.match(pattern, tok) for tok in _tokens(actual))


def _value_of(account: Account, otype: ObjectType, rec: dict, prop: str) -> str | None:
    if prop.startswith("associations."):
        target = object_type(prop.split(".", 1)[1])
        if target is None:
            return None
        return ";".join(assoc.of(account, otype.name, rec["id"], target.name)) or None
    if prop == "hs_object_id":
        return rec["id"]
    return rec["properties"].get(prop)


def _matches(account: Account, otype: ObjectType, rec: dict, flt: dict) -> bool:
    prop, op = flt.get("propertyName", ""), (flt.get("operator") or "EQ").upper()
    actual = _value_of(account, otype, rec, prop)
    value, values = flt.get("value"), flt.get("values") or []
    if prop.startswith("associations.") and op in ("EQ", "IN"):
        ids = (actual or "").split(";")
        return any(str(v) in ids for v in ([value] if op == "EQ" else values))
    low = (actual or "").lower()
    if op == "EQ":
        return actual is not None and low == str(value).lower()
    if op == "NEQ":
        return low != str(value).lower()
    if op == "IN":
        return actual is not None and low in [str(v).lower() for v in values]
    if op == "NOT_IN":
        return low not in [str(v).lower() for v in values]
    if op == "HAS_PROPERTY":
        return actual is not None
    if op == "NOT_HAS_PROPERTY":
        return actual is None
    if op == "CONTAINS_TOKEN":
        return _contains_token(actual, value)
    if op == "NOT_CONTAINS_TOKEN":
        return not _contains_token(actual, value)
    return _compare(actual, op, value, flt.get("highValue"))


def _query_match(otype: ObjectType, rec: dict, query: str) -> bool:
    words = [w for w in query.lower().split() if w]
    hay = [t for p in otype.searchable for t in _tokens(rec["properties"].get(p) or "")]
    return all(any(t.startswith(w) for t in hay) for w in words)


def _check_limits(groups: list[dict]) -> None:
    total = sum(len(g.get("filters") or []) for g in groups)
    if len(groups) > MAX_GROUPS or total > MAX_FILTERS or any(
            len(g.get("filters") or []) > MAX_PER_GROUP for g in groups):
        raise validation(f"Too many filters or filter groups: at most {MAX_GROUPS} filterGroups with "
                         f"{MAX_PER_GROUP} filters each and {MAX_FILTERS} filters in total are allowed.")


def _sort_key(rec: dict, prop: str) -> tuple:
    raw = rec["id"] if prop == "hs_object_id" else rec["properties"].get(prop)
    num = _num(raw) if raw is not None else None
    return (raw is None, num if num is not None else 0.0, str(raw or "").lower())


def _sorted(records: list[dict], sorts: list[Any]) -> list[dict]:
    records = sorted(records, key=lambda r: int(r["id"]))
    for spec in reversed(sorts or []):
        if isinstance(spec, str):
            prop, desc = spec.lstrip("-"), spec.startswith("-")
        else:
            prop, desc = spec.get("propertyName", ""), str(spec.get("direction", "")).upper() == "DESCENDING"
        records.sort(key=lambda r, p=prop: _sort_key(r, p), reverse=desc)
    return records


def _index_views(account: Account, otype: ObjectType, lag_ms: int) -> list[dict[str, Any]]:
    """The live records as the search index holds them `lag_ms` after their last changes (see the docstring)."""
    live = [r for r in account.table(otype.name).values() if not r["archived"]]
    if lag_ms <= 0:
        return live
    cutoff = int(time.time() * 1000) - lag_ms
    return [view for view in (indexed(r, cutoff) for r in live) if view is not None]


def run(account: Account, otype: ObjectType, body: dict[str, Any], lag_ms: int = 0) -> dict[str, Any]:
    """Evaluate a search request against the account's records as the search index holds them."""
    groups = body.get("filterGroups") or []
    _check_limits(groups)
    limit = int(body.get("limit") or 10)
    after = int(body.get("after") or 0)
    if limit > MAX_LIMIT:
        raise validation(f"limit must be less than or equal to {MAX_LIMIT}")
    if after + limit > MAX_RESULTS:
        raise HubSpotError(400, f"Paging past {MAX_RESULTS} results is not supported", "VALIDATION_ERROR")
    live = _index_views(account, otype, lag_ms)
    if groups:
        live = [r for r in live if any(all(_matches(account, otype, r, f) for f in g.get("filters") or [])
                                       for g in groups)]
    if body.get("query"):
        live = [r for r in live if _query_match(otype, r, str(body["query"]))]
    ordered = _sorted(live, body.get("sorts") or [])
    page = ordered[after:after + limit]
    props = body.get("properties") or None
    records = account.table(otype.name)
    out: dict[str, Any] = {"total": len(ordered),
                           "results": [serialize(account, otype, records[r["id"]], props) for r in page]}
    if after + limit < len(ordered):
        nxt = str(after + limit)
        out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
    return out
