"""Writes shared by the API and simulate(): create, update, delete, merge — each fires webhooks v2."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from sandbox.context import Sandbox
from sandbox.pipedrive import model, webhooks
from sandbox.pipedrive.core import ENTITY, PdError, lead_id, next_id
from sandbox.state import Account

# references that move to the survivor on a merge (https://pipedrive.readme.io/docs/merging-two-persons:
# "all related data (activities, emails, filters, notes, products, followers, participants) will be transferred")
REFS = {"persons": ("person_id",), "organizations": ("org_id", "organization_id")}


@dataclass
class Actor:
    """Who makes a change: the user and the webhook change_source ("api" for API calls, "app" for the UI)."""

    user_id: int
    source: str = "api"


def get_live(account: Account, object_type: str, rid: Any) -> dict[str, Any]:
    """A non-deleted record or PdError 404 in Pipedrive's words. Caller holds store.lock."""
    row = account.table(object_type).get(str(rid))
    if row is None or row.get("is_deleted"):
        raise PdError(404, "Entity was not found", "Object was not found.")
    return row


def create(sandbox: Sandbox, account: Account, object_type: str, props: dict[str, Any], actor: Actor,
           ) -> dict[str, Any]:
    now = time.time()
    with sandbox.store.lock:
        fields = model.clean(account, object_type, props, creating=True)
        if object_type == "leads" and not (fields.get("person_id") or fields.get("organization_id")):
            raise model.bad("A lead must be linked to a person or an organization")
        rid = lead_id(account) if object_type == "leads" else next_id(account, object_type)
        owner = fields.pop("owner_id", None) or actor.user_id
        record = model.new_record(account, object_type, rid, fields, owner, actor.source, now)
        account.table(object_type)[str(rid)] = record
        snapshot = copy.deepcopy(record)
    webhooks.emit(sandbox, account, ENTITY[object_type], "create", rid, snapshot, None, actor.user_id, actor.source)
    return snapshot


def update(sandbox: Sandbox, account: Account, object_type: str, rid: Any, props: dict[str, Any], actor: Actor,
           extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    now = time.time()
    with sandbox.store.lock:
        record = get_live(account, object_type, rid)
        fields = model.clean(account, object_type, props, creating=False)
        _consent_once(account, record, fields)
        before = copy.deepcopy(record)
        for key, value in fields.items():
            if key == "custom_fields":
                record["custom_fields"] = {**record.get("custom_fields", {}), **value}
            else:
                record[key] = value
        changes = {k: v for k, v in fields.items() if before.get(k) != record.get(k)}
        model.derive(record, object_type, changes, now)
        previous = {k: before.get(k) for k in record if before.get(k) != record.get(k)}
        if previous:
            model.touch(record, object_type, now)
        snapshot = copy.deepcopy(record)
    if previous or extra_meta:
        # one edit -> one change webhook; "previous" holds only the fields that changed
        webhooks.emit(sandbox, account, ENTITY[object_type], "change", rid, snapshot, previous, actor.user_id,
                      actor.source, extra_meta)
    return snapshot


def _consent_once(account: Account, record: dict[str, Any], fields: dict[str, Any]) -> None:
    """"It is only allowed once to change the marketing status from an old status to a new one": a later change is
    dropped and the status stays as it is (no error)."""
    wanted = fields.get("marketing_status")
    if wanted is None or wanted == record.get("marketing_status"):
        return
    changed = account.extra.setdefault("marketing_status_changed", [])
    if record["id"] in changed:
        fields.pop("marketing_status")
    else:
        changed.append(record["id"])


def delete(sandbox: Sandbox, account: Account, object_type: str, rid: Any, actor: Actor,
           extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mark deleted (v2: 'marked as deleted, permanently deleted after 30 days'); leads are removed."""
    now = time.time()
    with sandbox.store.lock:
        record = get_live(account, object_type, rid)
        last_state = copy.deepcopy(record)
        if object_type == "leads":
            del account.table(object_type)[str(rid)]
        else:
            record["is_deleted"] = True
            model.touch(record, object_type, now)
    webhooks.emit(sandbox, account, ENTITY[object_type], "delete", rid, None, last_state, actor.user_id,
                  actor.source, extra_meta)
    return last_state


def merge(sandbox: Sandbox, account: Account, object_type: str, loser_id: Any, survivor_id: Any,
          actor: Actor) -> dict[str, Any]:
    """PUT /v1/{persons|organizations}/{id}/merge {merge_with_id}: merge_with_id survives and wins conflicts.

    https://pipedrive.readme.io/docs/merging-two-persons : the `{id}` record is removed; where both have data
    the merge_with_id record's value is kept; its empty fields are filled from the other; related data moves.
    """
    if str(loser_id) == str(survivor_id):
        raise model.bad("Cannot merge an item with itself")
    with sandbox.store.lock:
        loser = get_live(account, object_type, loser_id)
        survivor = get_live(account, object_type, survivor_id)
        fills = {k: copy.deepcopy(v) for k, v in loser.items()
                 if k in model.EDITABLE[object_type] and k != "custom_fields" and _empty(survivor.get(k))
                 and not _empty(v)}
        custom = {k: v for k, v in loser.get("custom_fields", {}).items()
                  if _empty(survivor.get("custom_fields", {}).get(k)) and not _empty(v)}
        if custom:
            fills["custom_fields"] = custom
        moved = _move_related(account, object_type, int(loser_id), int(survivor_id))
    delete(sandbox, account, object_type, loser_id, actor, {"merged_to_id": str(survivor_id)})
    result = update(sandbox, account, object_type, survivor_id, fills, actor, {"merged_from_id": str(loser_id)})
    for table, rid, field in moved:
        if table not in ENTITY:
            continue  # notes: no webhook object the sandbox emulates
        with sandbox.store.lock:
            row = copy.deepcopy(account.table(table)[rid])
        webhooks.emit(sandbox, account, ENTITY[table], "change", rid, row, {field: int(loser_id)},
                      actor.user_id, actor.source)
    return result


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _move_related(account: Account, object_type: str, loser: int, survivor: int) -> list[tuple[str, str, str]]:
    """Re-point deals, activities, leads, notes (and persons of a merged org) at the survivor, as Pipedrive moves a
    merged record's related items (its notes too). Caller holds the lock."""
    moved = []
    for table in ("deals", "activities", "leads", "notes", "persons"):
        for rid, row in account.table(table).items():
            if row.get("is_deleted"):
                continue
            for field in REFS[object_type]:
                if row.get(field) == loser:
                    row[field] = survivor
                    moved.append((table, rid, field))
            if object_type == "persons" and table == "activities":
                for part in row.get("participants") or []:
                    if part.get("person_id") == loser:
                        part["person_id"] = survivor
    return moved
