"""CRM search request bodies (duplicates, changes, activities, companies), kept apart from adapter.py.

Search limits since 26 Aug 2024: at most 5 filterGroups (OR), 10 filters per group (AND), 25 in total.
https://developers.hubspot.com/changelog/breaking-change-expanded-filtering-capabilities-and-error-messaging-in-hubspots-search-api
A page holds at most 200 results (https://developers.hubspot.com/docs/api/crm/search).
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

import phonenumbers

from adapters.hubspot.fields import PROPERTIES, modified_property

MAX_GROUPS = 5
MAX_PAGE = 200
MAX_RESULTS = 10_000  # a search pages no further than this (after + limit); 400 beyond
MAX_IN_VALUES = 100
COMPANY_PROPERTIES = ["name", "domain", "hubspot_owner_id"]
# company searches name the oldest company first, so that one domain's "first" is the same in every search
OLDEST_FIRST = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def package(hs_object: str) -> Any:
    """The SDK package holding `hs_object`'s models (each generated package has its own classes)."""
    name = {"contacts": "hubspot.crm.contacts", "companies": "hubspot.crm.companies", "deals": "hubspot.crm.deals"}
    return importlib.import_module(name.get(hs_object, f"hubspot.crm.objects.{hs_object}"))


def search_request(hs_object: str, groups: list[list[dict[str, Any]]], properties: list[str], limit: int,
                   sorts: list[dict[str, str]] | None = None, after: str | None = None) -> Any:
    """A PublicObjectSearchRequest of the object's package; `groups` are OR-ed lists of AND-ed filters."""
    pkg = package(hs_object)
    filter_groups = [pkg.FilterGroup(filters=[pkg.Filter(**f) for f in group]) for group in groups[:MAX_GROUPS]]
    # The SDK types `sorts` as list[str]; the API documents objects {propertyName, direction}, sent as-is.
    return pkg.PublicObjectSearchRequest(filter_groups=filter_groups, properties=properties,
                                         limit=min(max(limit, 1), MAX_PAGE), sorts=sorts or [], after=after)


def _eq(prop: str, value: str) -> dict[str, Any]:
    return {"property_name": prop, "operator": "EQ", "value": value}


def _in(prop: str, values: list[str]) -> dict[str, Any]:
    return {"property_name": prop, "operator": "IN", "values": values[:MAX_IN_VALUES]}


def phone_variants(phones: Iterable[str]) -> list[str]:
    """The ways a number is commonly typed into HubSpot, for an exact IN match.

    HubSpot stores phone values as entered and its search compares them as strings, so +16175550150
    must also be looked for as "(617) 555-0150", "617.555.0150", "+1 617-555-0150" …
    """
    out: list[str] = []
    for raw in phones:
        out.append(raw)
        try:
            number = phonenumbers.parse(raw, None if raw.startswith("+") else "US")
        except phonenumbers.NumberParseException:
            continue
        intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        cc = f"+{number.country_code}"
        groups = re.split(r"[\s-]+", intl.removeprefix(cc).strip())
        out += [phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), intl, national,
                f"{cc} {national}", re.sub(r"\D", "", national)]
        for sep in (" ", "-", "."):
            out += [sep.join(groups), f"{cc} {sep.join(groups)}"]
    return list(dict.fromkeys(v for v in out if v))


def _split_name(name: str) -> tuple[str, str]:
    parts = name.split()
    return (parts[0], parts[-1]) if len(parts) > 1 else ("", parts[0] if parts else "")


def duplicate_groups(hs_object: str, emails: list[str], phones: list[str], name: str | None,
                     company: str | None) -> list[list[dict[str, Any]]]:
    """OR-ed filter groups: exact email (also a merged record's extra emails), phone formats, name [+ company]."""
    props = PROPERTIES[hs_object]
    groups: list[list[dict[str, Any]]] = []
    emails = [e.strip().lower() for e in emails if e and e.strip()]
    if emails and "email" in props:
        groups.append([_in("email", emails)])
        groups.append([{"property_name": "hs_additional_emails", "operator": "CONTAINS_TOKEN", "value": emails[0]}])
    variants = phone_variants([p for p in phones if p])
    for field in ("phone", "mobile"):
        if variants and field in props:
            groups.append([_in(props[field], variants)])
    if name and name.strip() and ("first_name" in props or "name" in props):
        groups.append(_name_group(hs_object, name.strip(), company))
    return groups[:MAX_GROUPS]


def _name_group(hs_object: str, name: str, company: str | None) -> list[dict[str, Any]]:
    props = PROPERTIES[hs_object]
    if "first_name" in props:
        first, last = _split_name(name)
        group = [_eq("lastname", last)] + ([_eq("firstname", first)] if first else [])
    else:
        group = [_eq(props["name"], name)]
    if company and company.strip() and "company" in props:
        group.append(_eq(props["company"], company.strip()))
    return group


def changed_since_request(hs_object: str, since_ms: int, properties: list[str], limit: int,
                          after: int = 0) -> Any:
    """Records modified after `since_ms`, oldest first, from the `after`th on."""
    prop = modified_property(hs_object)
    return search_request(hs_object, [[{"property_name": prop, "operator": "GT", "value": str(since_ms)}]],
                          properties, min(limit, MAX_RESULTS - after),
                          sorts=[{"propertyName": prop, "direction": "ASCENDING"}], after=str(after) if after else None)


def changes_cursor(cursor: str) -> tuple[int, int]:
    """"<ms>" or "<ms>+<after>" (a pass still paging by position over the records modified after <ms>)."""
    since, _, after = cursor.partition("+")
    offset = int(after or 0)
    return int(since), offset if 0 <= offset < MAX_RESULTS else 0


def changes_cursor_text(since_ms: int, after: int) -> str:
    return f"{since_ms}+{after}" if after else str(since_ms)


def activity_request(activity: str, record_singular: str, record_id: str, since_ms: int, app_id: str = "") -> Any:
    """Calls/emails/meetings associated with the record, logged (or dated) at or after `since`; with `app_id`, not
    those the app created (hs_object_source_id: the "Record source detail" HubSpot stamps on an app's objects), and
    never what a sequence sent (hs_object_source SEQUENCES): the first response's enrollment is LeadRelay's
    automation, and a sequence's later steps are not the rep acting either (the value is the sandbox's, as
    UNCONFIRMED as its other Record source values)."""
    link = _eq(f"associations.{record_singular}", record_id)
    own = [{"property_name": "hs_object_source", "operator": "NEQ", "value": "SEQUENCES"}]
    if app_id:
        own.append({"property_name": "hs_object_source_id", "operator": "NEQ", "value": app_id})
    groups = [[link, {"property_name": prop, "operator": "GTE", "value": str(since_ms)}, *own]
              for prop in ("hs_createdate", "hs_timestamp")]
    return search_request(activity, groups, ["hs_createdate", "hs_timestamp"], 1)


def company_request(domain: str | None, name: str | None) -> Any:
    groups = ([[_eq("domain", domain)]] if domain else []) + ([[_eq("name", name)]] if name else [])
    return search_request("companies", groups, COMPANY_PROPERTIES, 10, OLDEST_FIRST)


def companies_request(domains: list[str], after: str | None) -> Any:
    """One page of the companies whose domain is one of `domains`, oldest first like company_request."""
    # the values as clean_domain gives them: bare and lowercase, as HubSpot stores `domain` (whether IN would also
    # match values in other case is UNCONFIRMED: https://developers.hubspot.com/docs/api/crm/search)
    return search_request("companies", [[_in("domain", domains)]], COMPANY_PROPERTIES, MAX_PAGE, OLDEST_FIRST, after)


def clean_domain(value: str | None) -> str | None:
    """"https://www.Acme.com/about" -> "acme.com" (HubSpot stores company domains bare)."""
    if not value or not value.strip():
        return None
    text = re.sub(r"^[a-z]+://", "", value.strip().lower()).split("/")[0].split("@")[-1]
    return text.removeprefix("www.") or None
