"""The adapter's multi-call reads: duplicate and company search, activity checks, change pages, webhooks.

Search: GET /api/v2/persons/search and /api/v2/organizations/search (term, fields, exact_match; itemSearch
underneath, case-insensitive), https://developers.pipedrive.com/docs/api/v2/Persons#searchPersons .
Lists: v2 cursor paging with updated_since and sort_by=update_time,
https://pipedrive.readme.io/docs/core-api-concepts-pagination .
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adapters.pipedrive import fields as f
from adapters.pipedrive.client import PipedriveClient
from integration.errors import CRMNotFound
from integration.protocols import parse_iso
from integration.records import Company

MAX_SEARCHES = 5  # search calls per duplicate lookup (search has its own 10-per-2-s burst window)
PHONE_TAIL = 9  # digits searched as a substring: the subscriber part survives any prefix/formatting
MIN_PHONE_DIGITS = 7
ACTIVITY_PAGES = 3
LOOKBACK = dt.timedelta(days=1)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def _search(http: PipedriveClient, obj: str, term: str, field: str, exact: bool, limit: int) -> list[dict]:
    params = {"term": term, "fields": field, "exact_match": str(exact).lower(), "limit": max(1, min(limit, 100))}
    data = http.v2("GET", "{obj}/search", obj=obj, params=params)["data"] or {}
    return [entry["item"] for entry in data.get("items") or [] if isinstance(entry.get("item"), dict)]


def _terms(emails: Iterable[str], phones: Iterable[str], name: str | None) -> list[tuple[str, str, bool]]:
    """(field, term, exact_match) per search, emails first: the surest signal uses the first calls."""
    terms = [("email", e, True) for e in dict.fromkeys(e.strip().lower() for e in emails if e and e.strip())]
    tails = dict.fromkeys(_digits(p)[-PHONE_TAIL:] for p in phones if len(_digits(p)) >= MIN_PHONE_DIGITS)
    terms += [("phone", tail, False) for tail in tails]
    if name and len(name.strip()) >= 2:
        terms.append(("name", name.strip(), True))
    return terms[:MAX_SEARCHES]


def _keep(item: dict[str, Any], field: str, term: str, company: str | None) -> bool:
    if field == "phone":  # substring search: keep numbers that end with the searched digits
        return any(_digits(p).endswith(term) for p in item.get("phones") or [])
    if field == "name" and company:
        org = ((item.get("organization") or {}).get("name") or "").casefold()
        return bool(org) and (company.casefold() in org or org in company.casefold())
    return True


def person_candidates(http: PipedriveClient, emails: list[str], phones: list[str], name: str | None,
                      company: str | None, limit: int) -> dict[str, str | None]:
    """Person ids (best signal first) -> their organization's name, from a few searches."""
    found: dict[str, str | None] = {}
    for field, term, exact in _terms(emails, phones, name):
        for item in _search(http, "persons", term, field, exact, limit):
            if _keep(item, field, term, company) and str(item["id"]) not in found:
                found[str(item["id"])] = (item.get("organization") or {}).get("name")
        if len(found) >= limit:
            break
    return dict(list(found.items())[:limit])


def organization_candidates(http: PipedriveClient, name: str, limit: int) -> dict[str, str | None]:
    return {str(item["id"]): None for item in _search(http, "organizations", name.strip(), "name", True, limit)}


def _company(item: dict[str, Any], domain: str | None) -> Company:
    return Company(id=str(item["id"]), name=item.get("name") or "", domain=domain,
                   owner_id=f._id((item.get("owner") or {}).get("id")))


def company_by_domain(http: PipedriveClient, domain: str) -> Company | None:
    """Organizations whose custom field (the "Website" field) holds this domain, in any URL form."""
    # not exact_match: the field may hold "https://www.acme.example/"; the domain is checked here instead
    for item in _search(http, "organizations", domain, "custom_fields", False, 20):
        if any(f.domain_of(str(value)) == domain for value in item.get("custom_fields") or []):
            return _company(item, domain)
    return None


def company_by_name(http: PipedriveClient, name: str) -> Company | None:
    for item in _search(http, "organizations", name, "name", True, 10):
        if (item.get("name") or "").casefold() == name.casefold():
            return _company(item, None)
    return None


def rfc3339(moment: dt.datetime) -> str:
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def done_activity_since(http: PipedriveClient, link: str, record_id: str, since: dt.datetime) -> bool:
    """A done call/email/meeting on the record, added or marked done at or after `since`."""
    params: dict[str, Any] = {link: record_id, "done": "true", "updated_since": rfc3339(since),
                              "sort_by": "update_time", "sort_direction": "asc", "limit": 100}
    floor = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    for _ in range(ACTIVITY_PAGES):
        answer = http.v2("GET", "activities", params=params)
        for row in answer["data"] or []:
            moments = [parse_iso(row.get(k)) for k in ("add_time", "marked_as_done_time")]
            ours = str(row.get("subject") or "").startswith(f.LOGGED_PREFIX)
            if row.get("type") in f.LOGGED_ACTIVITY_TYPES and not ours and any(m and m >= floor for m in moments):
                return True
        params["cursor"] = (answer.get("additional_data") or {}).get("next_cursor")
        if not params["cursor"]:
            return False
    return False


@dataclass(frozen=True)
class Changes:
    rows: list[dict[str, Any]]
    cursor: str
    has_more: bool


def changes(http: PipedriveClient, obj: str, cursor: str | None, limit: int,
            overlap: dt.timedelta = dt.timedelta(0)) -> Changes:
    """One page of records updated at or after the cursor's time (less `overlap` when a pass starts), oldest first.

    Our cursor is "<since>|<page>|<newest update_time seen>": while a pass pages on, `page` is Pipedrive's
    next_cursor (v1 leads: the next start offset); when it ends the cursor restarts from the newest time
    seen (inclusive, so a record updated within that same second is seen twice rather than never).
    """
    since, page, high = (cursor.split("|") + ["", ""])[:3] if cursor else ("", "", "")
    if since and overlap and not page:  # a new pass starts `overlap` earlier; one in progress resumes at its page
        high = high or since  # and ends no earlier than the cursor it started from
        since = rfc3339((parse_iso(since) or dt.datetime.now(dt.UTC)) - overlap)
    since = since or rfc3339(dt.datetime.now(dt.UTC) - LOOKBACK)
    rows, next_page = (_lead_page if obj in f.V1_ONLY else _v2_page)(http, obj, since, page, limit)
    high = max([high or since] + [str(r.get("update_time") or "") for r in rows])
    if next_page:
        return Changes(rows, f"{since}|{next_page}|{high}", True)
    return Changes(rows, f"{rfc3339(parse_iso(high) or dt.datetime.now(dt.UTC))}||", False)


def _v2_page(http: PipedriveClient, obj: str, since: str, page: str, limit: int) -> tuple[list[dict], str]:
    params = {"updated_since": since, "sort_by": "update_time", "sort_direction": "asc",
              "limit": max(1, min(limit, 500))}
    if page:
        params["cursor"] = page
    answer = http.v2("GET", "{obj}", obj=obj, params=params)
    return answer["data"] or [], (answer.get("additional_data") or {}).get("next_cursor") or ""


def _lead_page(http: PipedriveClient, obj: str, since: str, page: str, limit: int) -> tuple[list[dict], str]:
    """v1 leads have no updated_since filter: page by offset and keep the rows updated since."""
    params = {"start": int(page or 0), "limit": max(1, min(limit, 500)), "sort": "update_time ASC"}
    answer = http.call(("GET", "/api/v1/leads"), lambda sdk, **kw: sdk.leads.get_all_leads(params=params, **kw))
    floor = parse_iso(since)
    rows = [r for r in answer["data"] or [] if (parse_iso(r.get("update_time")) or floor) >= floor]
    paging = (answer.get("additional_data") or {}).get("pagination") or {}
    more = paging.get("more_items_in_collection") and paging.get("next_start") is not None
    return sorted(rows, key=lambda r: r.get("update_time") or ""), str(paging["next_start"]) if more else ""


# webhooks (https://pipedrive.readme.io/docs/guide-for-webhooks-v2) ---------------------------------------
def list_webhooks(http: PipedriveClient) -> list[dict[str, Any]]:
    answer = http.call(("GET", "/api/v1/webhooks"), lambda sdk, **kw: sdk.webhooks.get_hooks_subscription(**kw))
    return answer["data"] or []


def ensure_webhooks(http: PipedriveClient, url: str, user: str, password: str,
                    wanted: Iterable[tuple[str, str]], version: str) -> list[str]:
    """One v2 subscription per (action, object) to `url` with these Basic credentials; returns their ids.

    Existing ones with the same credentials are kept; ones to the same URL with other (rotated)
    credentials are replaced, since Pipedrive would keep sending the old ones.
    """
    existing = [h for h in list_webhooks(http) if h.get("subscription_url") == url
                and str(h.get("version")) == version]
    ids = []
    for action, entity in wanted:
        same = [h for h in existing if (h.get("event_action"), h.get("event_object")) == (action, entity)]
        keep = next((h for h in same if h.get("http_auth_user") == user), None)
        remove_webhooks(http, [str(h["id"]) for h in same if h is not keep])
        if keep is None:
            body = {"subscription_url": url, "event_action": action, "event_object": entity, "version": version,
                    "http_auth_user": user, "http_auth_password": password}
            keep = http.call(("POST", "/api/v1/webhooks"), lambda sdk, body=body, **kw: sdk._post(
                f"{sdk.BASE_URL}webhooks", json=body, **kw))["data"]
        ids.append(str(keep["id"]))
    return ids


def remove_webhooks(http: PipedriveClient, ids: list[str]) -> None:
    """Delete these subscriptions; one already gone (uninstall removes an app's webhooks) is fine."""
    for hook_id in ids:
        try:
            http.call(("DELETE", "/api/v1/webhooks/{id}"),
                      lambda sdk, hid=hook_id, **kw: sdk.webhooks.delete_hook_subscription(hid, **kw))
        except CRMNotFound:
            continue


def person_field_keys(http: PipedriveClient) -> dict[str, str]:
    """Person field name -> key (GET /v1/personFields; custom fields have 40-character hash keys)."""
    data = http.call(("GET", "/api/v1/personFields"),
                     lambda sdk, **kw: sdk.persons.get_person_fields(params={"limit": 500}, **kw))
    return {str(fd.get("name")): str(fd.get("key")) for fd in data.get("data") or [] if fd.get("key")}


def create_person_field(http: PipedriveClient, name: str, field_type: str) -> str:
    """POST /v1/personFields; returns the new field's key."""
    body = {"name": name, "field_type": field_type}
    data = http.call(("POST", "/api/v1/personFields"),
                     lambda sdk, **kw: sdk._post(sdk.BASE_URL + "personFields", json=body, **kw))
    return str(data["data"]["key"])
