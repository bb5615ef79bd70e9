"""CRM records of one portal: create / update / archive / merge, property rules, change events.

Every mutator returns the change events it caused (see webhooks.py for their wire format) and
must be called with `sandbox.store.lock` held (the helpers below take it themselves).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.hubspot import associations as assoc
from sandbox.hubspot.errors import HubSpotError, not_found, unknown_properties, validation
from sandbox.hubspot.hubstate import iso, now_ms
from sandbox.hubspot.schema import ACTIVITY_TYPES, MERGEABLE, TYPES, ObjectType

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account

# HubSpot rejects writes to calculated properties with READ_ONLY_VALUE. Secondary emails (hs_additional_emails) are
# changed only through the v1 secondary-email API, not by a v3 property write (2nd-hand:
# https://gist.github.com/equivalent "no way to delete secondary contact via V3 … setting hs_additional_emails
# to empty will not work"; the v1 endpoints: https://legacydocs.hubspot.com/docs/methods/contacts/delete-a-secondary-email-address)
READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate",
                       "hs_merged_object_ids", "hs_email_domain", "notes_last_updated", "hs_additional_emails",
                       "hs_object_source", "hs_object_source_id", "hs_email_optout"})
_TIMESTAMPS = ("createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate")
INDEX_KEEP_MS = 600_000  # search versions kept this long: config.search_lag_ms beyond 10 minutes acts as 10 minutes


@dataclass(frozen=True)
class Actor:
    """Who made a change: the webhook changeSource/sourceId and the property-history source."""

    change_source: str          # "INTEGRATION" (an app's token), "API" (token without an app), "CRM_UI"
    source_id: str | None       # app id, or "userId:<id>" for UI changes


def source_properties(actor: Actor) -> dict[str, str]:
    """The "Record source" of a new record (hs_object_source, hs_object_source_id): how HubSpot tells an app's
    objects from a rep's (https://knowledge.hubspot.com/properties/hubspots-default-contact-properties, "Record
    source" and "Record source detail 1"; that an app's id is the source id is UNCONFIRMED)."""
    source = actor.change_source if actor.change_source in ("CRM_UI", "INTEGRATION", "SEQUENCES") else "API"
    out = {"hs_object_source": source}
    if actor.source_id:
        out["hs_object_source_id"] = actor.source_id.removeprefix("userId:")
    return out


def to_str(value: Any) -> str | None:
    """HubSpot stores every property as a string; "" / None clear the value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table(account: Account, otype: ObjectType) -> dict[str, dict[str, Any]]:
    return account.table(otype.name)


def get(account: Account, otype: ObjectType, object_id: str, archived: bool = False) -> dict[str, Any]:
    """A stored record or a 404 HubSpotError (archived records only when asked for)."""
    rec = table(account, otype).get(str(object_id))
    if rec is None or rec["archived"] != archived:
        raise not_found(object_id)
    return rec


def find_by(account: Account, otype: ObjectType, prop: str, value: str) -> dict[str, Any] | None:
    """First live record whose property equals value (case-insensitive), for idProperty / uniqueness."""
    needle = value.lower()
    for rec in table(account, otype).values():
        if rec["archived"]:
            continue
        if (rec["properties"].get(prop) or "").lower() == needle:
            return rec
        if prop == "email" and needle in (rec["properties"].get("hs_additional_emails") or "").lower().split(";"):
            return rec
    return None


def _validate(sandbox: Sandbox, account: Account, otype: ObjectType, props: dict[str, Any],
              system: bool) -> dict[str, str | None]:
    if not isinstance(props, dict):
        raise validation("Invalid input JSON: properties must be an object")
    custom = set(account.extra.get("custom_properties", {}).get(otype.name, []))
    unknown = sorted(k for k in props if k not in otype.known and k not in custom)
    if unknown:
        raise unknown_properties(unknown)
    read_only = sorted(k for k in props if k in READ_ONLY)
    if read_only and not system:
        raise validation("Property values were not valid", errors=[
            {"message": f'"{k}" is a read only property; its value cannot be set.', "code": "READ_ONLY_VALUE",
             "context": {"propertyName": [k]}} for k in read_only])
    clean = {k: to_str(v) for k, v in props.items()}
    owner = clean.get("hubspot_owner_id")
    if owner and owner not in account.extra.get("owners", {}):
        raise validation("Property values were not valid", errors=[
            {"message": f'"{owner}" is not a valid owner id', "code": "INVALID_OWNER_ID",
             "context": {"propertyName": ["hubspot_owner_id"]}}])
    return clean


def _check_unique_email(account: Account, otype: ObjectType, clean: dict[str, Any], own_id: str | None) -> None:
    email = clean.get("email")
    if otype.name != "contacts" or not email:
        return
    other = find_by(account, otype, "email", email)
    if other is not None and other["id"] != own_id:
        # https://developers.hubspot.com/docs/api-reference/error-handling (409 CONFLICT on duplicate email)
        raise HubSpotError(409, f"Contact already exists. Existing ID: {other['id']}", "CONFLICT")


def _derive(otype: ObjectType, props: dict[str, str | None], at: int) -> None:
    """Calculated properties HubSpot maintains itself."""
    if otype.name == "contacts" and props.get("email"):
        props["hs_email_domain"] = props["email"].rsplit("@", 1)[-1].lower()
    if otype.name == "tasks" and props.get("hs_task_status") == "COMPLETED" and not props.get(
            "hs_task_completion_date"):
        props["hs_task_completion_date"] = str(at)


def _set(rec: dict[str, Any], name: str, value: str | None, at: int, actor: Actor) -> bool:
    old = rec["properties"].get(name)
    if old == value:
        return False
    if value is None:
        rec["properties"].pop(name, None)
    else:
        rec["properties"][name] = value
    rec.setdefault("history", {}).setdefault(name, []).insert(0, {
        "value": value or "", "timestamp": iso(at), "sourceType": actor.change_source,
        "sourceId": actor.source_id, "updatedByUserId": None})
    return True


def _touch(rec: dict[str, Any], at: int) -> None:
    stamp = iso(at)
    rec["updatedAt"] = stamp
    rec["properties"]["lastmodifieddate"] = stamp
    rec["properties"]["hs_lastmodifieddate"] = stamp
    _index(rec, at)


def _index(rec: dict[str, Any], at: int) -> None:
    """Keep the record's values as of this change for the search index (search.py reads them back with the lag)."""
    versions = rec.setdefault("index", [])
    versions.append([at, dict(rec["properties"])])
    settled = [n for n, (when, _) in enumerate(versions) if when <= at - INDEX_KEEP_MS]
    if settled:  # what a search may still see: the newest settled version and every later one
        del versions[:settled[-1]]


def indexed(rec: dict[str, Any], cutoff_ms: int) -> dict[str, Any] | None:
    """The record as HubSpot's search index holds it when changes after `cutoff_ms` are not indexed yet: its id
    and properties of then, or None when it was created later."""
    seen = None
    for when, props in rec.get("index") or [[0, rec["properties"]]]:  # no versions: indexed long ago
        if when > cutoff_ms:
            break
        seen = props
    return None if seen is None else {"id": rec["id"], "properties": seen}


def settle_index(account: Account) -> None:
    """Make every record searchable as it is now, as if indexed long ago (seed data predates any search)."""
    for otype in TYPES.values():
        for rec in account.table(otype.name).values():
            rec["index"] = [[0, dict(rec["properties"])]]


def _event(otype: ObjectType, kind: str, rec_id: str, at: int, actor: Actor, **fields: Any) -> dict[str, Any]:
    return {"objectType": otype.name, "kind": kind, "objectId": int(rec_id), "occurredAt": at,
            "actor": actor, **fields}


def check_create(sandbox: Sandbox, account: Account, otype: ObjectType, props: dict[str, Any],
                 system: bool = False) -> dict[str, str | None]:
    """The properties of a new record as stored, or the HubSpotError its create answers (nothing is written)."""
    clean = _validate(sandbox, account, otype, props, system)
    missing = [p for p in otype.required if not clean.get(p)]
    if missing:
        raise validation("Property values were not valid", errors=[
            {"message": f'Property "{p}" is required', "code": "REQUIRED_PROPERTY",
             "context": {"propertyName": [p]}} for p in missing])
    _check_unique_email(account, otype, clean, None)
    return clean


def create(sandbox: Sandbox, account: Account, otype: ObjectType, props: dict[str, Any], actor: Actor,
           system: bool = False) -> tuple[dict[str, Any], list[dict]]:
    """Create a record; returns it and its creation (+ propertyChange) events."""
    with sandbox.store.lock:
        clean = check_create(sandbox, account, otype, props, system)
        at = now_ms(sandbox, account)
        rec_id = _next_id(sandbox, account)
        created = clean.pop("createdate", None) or clean.pop("hs_createdate", None)
        stamp = iso(at) if not created else created
        rec = {"id": rec_id, "properties": {"hs_object_id": rec_id, "createdate": stamp, "hs_createdate": stamp,
                                            **source_properties(actor)},
               "createdAt": stamp, "archived": False, "history": {}}
        if otype.name == "tasks":
            clean.setdefault("hs_task_status", "NOT_STARTED")
        _derive(otype, clean, at)
        for name, value in clean.items():
            _set(rec, name, value, at, actor)
        _touch(rec, at)
        table(account, otype)[rec_id] = rec
        events = [_event(otype, "creation", rec_id, at, actor)]
        events += [_event(otype, "propertyChange", rec_id, at, actor, propertyName=k, propertyValue=v)
                   for k, v in rec["properties"].items() if k in clean]
        return rec, events


def update(sandbox: Sandbox, account: Account, otype: ObjectType, object_id: str, props: dict[str, Any],
           actor: Actor, system: bool = False) -> tuple[dict[str, Any], list[dict]]:
    """Patch properties; one propertyChange event per property whose value really changed."""
    with sandbox.store.lock:
        rec = get_live(account, otype, object_id)  # an old id writes to the merged record (UNCONFIRMED)
        clean = _validate(sandbox, account, otype, props, system)
        _check_unique_email(account, otype, clean, rec["id"])
        at = now_ms(sandbox, account)
        merged = {**rec["properties"], **clean}
        _derive(otype, merged, at)
        derived = {k: merged.get(k) for k in ("hs_email_domain", "hs_task_completion_date") if k in merged}
        changed = [k for k, v in {**clean, **derived}.items() if _set(rec, k, v, at, actor)]
        if changed:
            _touch(rec, at)
        events = [_event(otype, "propertyChange", rec["id"], at, actor, propertyName=k,
                         propertyValue=rec["properties"].get(k, "")) for k in changed]
        return rec, events


def archive(sandbox: Sandbox, account: Account, otype: ObjectType, object_id: str,
            actor: Actor) -> list[dict]:
    """Archive (soft-delete) a record; HubSpot answers 204 even for unknown ids, so do we."""
    with sandbox.store.lock:
        rec = table(account, otype).get(str(object_id))
        if rec is None or rec["archived"]:
            return []
        at = now_ms(sandbox, account)
        rec["archived"], rec["archivedAt"] = True, iso(at)
        assoc.drop_all(account, otype.name, rec["id"])
        return [_event(otype, "deletion", rec["id"], at, actor)]


def secondary_email(sandbox: Sandbox, account: Account, vid: str, email: str, add: bool,
                    actor: Actor) -> tuple[list[str], list[dict]]:
    """Add (PUT) or remove (DELETE) one secondary email of a contact (v1 API); returns them and the change events.

    Adding an address another contact holds is a 409 like a v3 write of that email; removing one the contact does
    not have changes nothing.
    """
    otype = TYPES["contacts"]
    with sandbox.store.lock:
        rec = get(account, otype, vid)
        extra = [e for e in (rec["properties"].get("hs_additional_emails") or "").split(";") if e]
        if add:
            _check_unique_email(account, otype, {"email": email}, rec["id"])
            if email.lower() != (rec["properties"].get("email") or "").lower() and email.lower() not in {
                    e.lower() for e in extra}:
                extra.append(email)
        else:
            extra = [e for e in extra if e.lower() != email.lower()]
        at = now_ms(sandbox, account)
        value = ";".join(extra) or None
        if not _set(rec, "hs_additional_emails", value, at, actor):
            return extra, []
        _touch(rec, at)
        return extra, [_event(otype, "propertyChange", rec["id"], at, actor, propertyName="hs_additional_emails",
                              propertyValue=value or "")]


def live_id(account: Account, otype: ObjectType, object_id: str) -> str:
    """The id a record lives under now: a merged-away id points at the record it was merged into, through every
    later merge (the changelog "Updated merge functionality for contacts and companies": "both of the previous IDs
    will point to the resulting merged record")."""
    moved = account.extra.get("merged_into", {}).get(otype.name, {})
    current = str(object_id)
    for _ in range(len(moved)):
        if current not in moved:
            break
        current = moved[current]
    return current


def get_live(account: Account, otype: ObjectType, object_id: str) -> dict[str, Any]:
    """`get` that follows merges: an old id answers the merged record, which carries its own (new) id."""
    return get(account, otype, live_id(account, otype, object_id))


def merge(sandbox: Sandbox, account: Account, otype: ObjectType, primary_id: str, merged_id: str,
          actor: Actor) -> tuple[dict[str, Any], list[dict]]:
    """Merge two records into a NEW record with a new id (see the package docstring for the sources).

    The new record takes the primary's values, fills its empty ones from the other record, keeps the older create
    date and lists both old ids in hs_merged_object_ids; the associations of both move to it (the primary's first:
    a "primary" label the new record has already is not taken from the other). Both old ids point at it. The
    merge event names the primary as objectId (UNCONFIRMED: no vendor example of a merge payload was found).
    """
    if otype.name not in MERGEABLE:
        raise validation(f"Merging is not supported for {otype.name}")
    if str(primary_id) == str(merged_id):
        raise validation("Cannot merge an object with itself")
    with sandbox.store.lock:
        primary, loser = get_live(account, otype, primary_id), get_live(account, otype, merged_id)
        if primary["id"] == loser["id"]:
            raise validation("Cannot merge an object with itself")
        at = now_ms(sandbox, account)
        rec, moved = _merged_record(otype, primary, loser, _next_id(sandbox, account), at, actor)
        rows = table(account, otype)
        rows[rec["id"]] = rec
        for old in (primary, loser):
            del rows[old["id"]]
            account.extra.setdefault("merged_into", {}).setdefault(otype.name, {})[old["id"]] = rec["id"]
        assoc.move_all(account, otype.name, primary["id"], rec["id"])
        assoc.move_all(account, otype.name, loser["id"], rec["id"], take_primary=False)
        event = _event(otype, "merge", primary["id"], at, actor, primaryObjectId=int(primary["id"]),
                       mergedObjectIds=[int(loser["id"])], newObjectId=int(rec["id"]),
                       numberOfPropertiesMoved=moved)
        return rec, [event]


def _next_id(sandbox: Sandbox, account: Account) -> str:
    return str(account.extra.setdefault("id_base", 100) + sandbox.store.next_int())


def _merged_record(otype: ObjectType, primary: dict, loser: dict, new_id: str, at: int,
                   actor: Actor) -> tuple[dict[str, Any], int]:
    """The new record of a merge: the primary's values and history, then the other record's ("Property values from
    both objects will still be merged onto the new object")."""
    history = {name: list(entries) for name, entries in primary.get("history", {}).items()}
    for name, entries in loser.get("history", {}).items():
        history.setdefault(name, []).extend(entries)
    rec = {"id": new_id, "properties": dict(primary["properties"]), "createdAt": primary["createdAt"],
           "archived": False, "history": history}
    moved = _merge_properties(otype, rec, loser, at, actor)
    old_ids = [i for r in (primary, loser) for i in [*_merged_ids(r), r["id"]]]
    rec["properties"]["hs_merged_object_ids"] = ";".join(dict.fromkeys(old_ids))
    rec["properties"]["hs_object_id"] = new_id
    _touch(rec, at)
    return rec, moved


def _merged_ids(rec: dict) -> list[str]:
    return [i for i in (rec["properties"].get("hs_merged_object_ids") or "").split(";") if i]


def _merge_properties(otype: ObjectType, primary: dict, loser: dict, at: int, actor: Actor) -> int:
    # The primary's values win and the merged record's fill the primary's empty ones (changelog "Updated merge
    # functionality for contacts and companies": "the property values of the resulting merged record will use the
    # latest property values of the primary record"). The older create date survives and a contact's secondary
    # email becomes an additional email (https://knowledge.hubspot.com/records/merge-records).
    moved = 0
    for name, value in loser["properties"].items():
        if name in READ_ONLY or name == "email" or primary["properties"].get(name):
            continue
        moved += _set(primary, name, value, at, actor)
    if otype.name == "contacts":
        extra = [e for e in (primary["properties"].get("hs_additional_emails") or "").split(";") if e]
        for email in [loser["properties"].get("email")] + (loser["properties"].get(
                "hs_additional_emails") or "").split(";"):
            if email and email != primary["properties"].get("email") and email not in extra:
                extra.append(email)
        if not primary["properties"].get("email") and extra:
            _set(primary, "email", extra.pop(0), at, actor)
        _set(primary, "hs_additional_emails", ";".join(extra) or None, at, actor)
    if loser["createdAt"] < primary["createdAt"]:
        primary["createdAt"] = loser["createdAt"]
        primary["properties"]["createdate"] = primary["properties"]["hs_createdate"] = loser["createdAt"]
    return moved


def note_activity(sandbox: Sandbox, account: Account, from_type: str, to_type: str, to_id: str) -> None:
    """Logging a call/email/meeting/note on a record bumps its "Last activity date"."""
    if from_type not in ACTIVITY_TYPES:
        return
    from sandbox.hubspot.schema import TYPES
    rec = account.table(to_type).get(str(to_id))
    if rec is not None and to_type in TYPES and "notes_last_updated" in TYPES[to_type].known:
        at = now_ms(sandbox, account)
        rec["properties"]["notes_last_updated"] = iso(at)
        _touch(rec, at)


def serialize(account: Account, otype: ObjectType, rec: dict[str, Any], properties: list[str] | None = None,
              with_history: list[str] | None = None, associations: list[str] | None = None) -> dict[str, Any]:
    """The record as GET /crm/v3/objects/{type}/{id} returns it."""
    if properties:
        always = [p for p in otype.defaults if p in _TIMESTAMPS or p == "hs_object_id"]
        names = list(dict.fromkeys(always + [p for p in properties if p]))
    else:
        names = list(otype.defaults)
    props = {n: rec["properties"].get(n) for n in names}
    out: dict[str, Any] = {"id": rec["id"], "properties": props, "createdAt": rec["createdAt"],
                           "updatedAt": rec["updatedAt"], "archived": rec["archived"]}
    if rec.get("archivedAt"):
        out["archivedAt"] = rec["archivedAt"]
    if with_history:
        hist = rec.get("history", {})
        out["propertiesWithHistory"] = {n: hist.get(n, []) for n in with_history}
    if associations:
        blocks = assoc.v3_block(account, otype.name, rec["id"], associations)
        if blocks:
            out["associations"] = blocks
    return out
