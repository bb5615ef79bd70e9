"""Record storage of one org: create, update, delete, merge with Salesforce's system fields.

Every function expects the caller to hold `sandbox.store.lock`. Stored records are flat dicts keyed by
canonical field API names; deleted records stay in the table with IsDeleted = true (the recycle bin),
which is what queryAll and merge's MasterRecordId rely on.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.schema import CLOSED_TASK_STATUSES, SObject, org_sobject, sobject
from sandbox.salesforce.values import SFError, coerce, stamp, today
from sandbox.state import Account

PERSON_OBJECTS = ("Lead", "Contact", "User")


def find(account: Account, record_id: str, include_deleted: bool = True) -> tuple[str, dict] | None:
    """(object type, record) for an id in this org, or None."""
    object_type = ids.type_of(record_id)
    if object_type is None:
        return None
    record = account.table(object_type).get(ids.to_18(record_id))
    if record is None or (record.get("IsDeleted") and not include_deleted):
        return None
    return object_type, record


def live(account: Account, object_type: str, record_id: str) -> dict:
    """The undeleted record, or SFError NOT_FOUND / ENTITY_IS_DELETED as the REST API answers."""
    if not ids.looks_like_id(record_id):
        raise SFError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {record_id}",
                      status=404)
    record = account.table(object_type).get(ids.to_18(record_id))
    if record is None:
        raise SFError("NOT_FOUND", "The requested resource does not exist", status=404)
    if record.get("IsDeleted"):
        raise SFError("ENTITY_IS_DELETED", "entity is deleted", status=404)
    return record


def canonical_changes(obj: SObject, data: dict[str, Any], insert: bool) -> dict[str, Any]:
    """Validate a create/update body field by field; returns {canonical name: stored value}."""
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key == "attributes" or (key == "Id" and not insert):
            continue
        spec = obj.field(key)
        if spec is None:
            # named in the message only, `fields` empty: what Salesforce's own SDK tests expect of this answer
            # (forcedotcom/sf-fx-runtime-java RestApiCreateTest.createWithInvalidField)
            raise SFError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
        writable = spec.createable if insert else spec.updateable
        if not writable:
            verb = "create" if insert else "update"
            raise SFError("INVALID_FIELD_FOR_INSERT_UPDATE",
                          f"Unable to {verb}/update fields: {spec.name}. Please check the security settings of "
                          "this field and verify that it is read/write for your profile or permission set.",
                          fields=[spec.name])
        stored = coerce(spec, value)
        if spec.restricted and spec.picklist and stored not in spec.picklist:
            raise SFError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                          f"{spec.name}: bad value for restricted picklist field: {value}", fields=[spec.name])
        if spec.required and stored in (None, ""):
            raise SFError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]",
                          fields=[spec.name])
        changes[spec.name] = stored
    return changes


def _check_references(account: Account, obj: SObject, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        spec = obj.fields[name]
        if spec.type != "reference" or value is None:
            continue
        target = find(account, value, include_deleted=False)
        if target is None or target[0] not in spec.reference_to:
            raise SFError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", fields=[name])
        if name == "OwnerId" and not target[1].get("IsActive", True):
            raise SFError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user "
                          f"[{value}] as owner of {obj.name.lower()}", fields=[name])


def _derive(account: Account, obj: SObject, record: dict[str, Any]) -> None:
    """Formula and read-only fields Salesforce computes from the others."""
    if obj.name in PERSON_OBJECTS:
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    if obj.name == "Task":
        closed = record.get("Status") in CLOSED_TASK_STATUSES
        if closed and not record.get("IsClosed"):
            record["CompletedDateTime"] = record.get("LastModifiedDate")
        record["IsClosed"] = closed
        record["IsHighPriority"] = record.get("Priority") == "High"
    if obj.name == "Event":
        start = record.get("StartDateTime") or record.get("ActivityDateTime")
        record["ActivityDateTime"] = start
        record["ActivityDate"] = start[:10] if start else None
    if obj.name == "EmailMessageRelation":
        record["RelationObjectType"] = ids.type_of(record.get("RelationId") or "")
    if obj.name in ("Task", "Event"):
        record["AccountId"] = _activity_account(account, record)
    if obj.name == "Opportunity":
        stage = record.get("StageName") or ""
        record["IsClosed"] = stage.startswith("Closed")
        record["IsWon"] = stage == "Closed Won"


def _activity_account(account: Account, record: dict[str, Any]) -> str | None:
    what = find(account, record.get("WhatId") or "")
    if what and what[0] == "Account":
        return what[1]["Id"]
    if what and what[0] == "Opportunity":
        return what[1].get("AccountId")
    who = find(account, record.get("WhoId") or "")
    return who[1].get("AccountId") if who and who[0] == "Contact" else None


def _touch_last_activity(account: Account, obj: SObject, record: dict[str, Any]) -> None:
    """Closed tasks and events set LastActivityDate on the Who/What records (no LastModifiedDate change)."""
    if obj.name not in ("Task", "Event") or (obj.name == "Task" and not record.get("IsClosed")):
        return
    day = record.get("ActivityDate") or today()
    for ref in (record.get("WhoId"), record.get("WhatId")):
        found = find(account, ref or "", include_deleted=False)
        if found and "LastActivityDate" in (sobject(found[0]) or obj).fields:
            current = found[1].get("LastActivityDate")
            found[1]["LastActivityDate"] = max(filter(None, (current, day)))


# Run on a save's values (object type, values, the record's id or None for a create) before it is stored; raises
# SFError to refuse it (duplicates.guard: the org's duplicate rules)
Guard = Callable[[str, dict[str, Any], str | None], None]


def create(account: Account, object_type: str, data: dict[str, Any], actor: str, serial: int,
           guard: Guard | None = None) -> dict:
    """Insert a record as `actor`; returns the stored record or raises SFError."""
    obj = org_sobject(account, object_type)
    changes = canonical_changes(obj, data, insert=True)
    for spec in obj.fields.values():
        if spec.default is not None and changes.get(spec.name) is None:
            changes[spec.name] = spec.default
        if spec.required and spec.createable and changes.get(spec.name) in (None, ""):
            raise SFError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]",
                          fields=[spec.name])
    if "OwnerId" in obj.fields:
        changes.setdefault("OwnerId", actor)
    _check_references(account, obj, changes)
    now = stamp(account.extra)
    record = {name: None for name in obj.fields}
    record.update(changes)
    record.update({"Id": ids.make_id(obj.name, serial), "CreatedDate": now, "CreatedById": actor,
                   "LastModifiedDate": now, "LastModifiedById": actor, "SystemModstamp": now})
    if "IsDeleted" in obj.fields:
        record["IsDeleted"] = False
    _derive(account, obj, record)
    if guard is not None:
        guard(obj.name, record, None)
    account.table(obj.name)[record["Id"]] = record
    _touch_last_activity(account, obj, record)
    return record


def update(account: Account, object_type: str, record_id: str, data: dict[str, Any], actor: str,
           guard: Guard | None = None) -> dict:
    """Patch a record as `actor` (LastModifiedById = actor); returns the stored record."""
    obj = org_sobject(account, object_type)
    record = live(account, obj.name, record_id)
    changes = canonical_changes(obj, data, insert=False)
    _check_references(account, obj, changes)
    if guard is not None:
        guard(obj.name, {**record, **changes}, record["Id"])
    record.update(changes)
    now = stamp(account.extra)
    record.update({"LastModifiedDate": now, "LastModifiedById": actor, "SystemModstamp": now})
    _derive(account, obj, record)
    _touch_last_activity(account, obj, record)
    return record


def delete(account: Account, object_type: str, record_id: str, actor: str, master_id: str | None = None) -> dict:
    """Soft-delete (recycle bin); a merge loser also gets MasterRecordId."""
    obj = sobject(object_type)
    if obj.name == "User":
        raise SFError("INVALID_TYPE_FOR_OPERATION", "entity type cannot be deleted", status=400)
    record = live(account, obj.name, record_id)
    now = stamp(account.extra)
    record.update({"IsDeleted": True, "LastModifiedDate": now, "LastModifiedById": actor, "SystemModstamp": now})
    if master_id and "MasterRecordId" in obj.fields:
        record["MasterRecordId"] = master_id
    return record


def reparent(account: Account, object_type: str, loser_id: str, master_id: str, actor: str) -> list[str]:
    """Point the loser's children at the master, as merge() does; returns the re-parented ids."""
    links = {"Lead": [("Task", "WhoId"), ("Event", "WhoId"), ("Note", "ParentId")],
             "Contact": [("Task", "WhoId"), ("Event", "WhoId"), ("Opportunity", "ContactId"),
                         ("Note", "ParentId")],
             "Account": [("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Task", "WhatId"),
                         ("Event", "WhatId"), ("Account", "ParentId"), ("Note", "ParentId")]}[object_type]
    moved = []
    for child_type, field in links:
        for child in account.table(child_type).values():
            if child.get(field) == loser_id and not child.get("IsDeleted"):
                now = stamp(account.extra)
                child.update({field: master_id, "LastModifiedDate": now, "LastModifiedById": actor,
                              "SystemModstamp": now})
                _derive(account, sobject(child_type), child)
                moved.append(child["Id"])
    return moved


def merge(account: Account, object_type: str, master_id: str, loser_ids: list[str], overrides: dict[str, Any],
          actor: str, nulls: tuple[str, ...] = ()) -> dict[str, Any]:
    """SOAP merge(): master keeps its values (plus `overrides`), losers are deleted, children re-parented.

    https://developer.salesforce.com/docs/atlas.en-us.250.0.api.meta/api/sforce_api_calls_merge.htm
    """
    obj = sobject(object_type)
    if obj is None or not obj.mergeable:
        raise SFError("INVALID_TYPE_FOR_OPERATION", f"entity type {object_type} does not support merge")
    if not 1 <= len(loser_ids) <= 2:
        raise SFError("LIMIT_EXCEEDED", "A merge request can merge up to three records, including the master")
    master = _merge_target(account, obj, master_id)
    losers = [_merge_target(account, obj, loser) for loser in loser_ids]
    if any(loser["Id"] == master["Id"] for loser in losers):
        raise SFError("INVALID_ID_FIELD", "The master record id cannot also be a record to merge")
    changes = dict(overrides)
    changes.update({name: None for name in nulls})
    if changes:
        update(account, obj.name, master["Id"], changes, actor)
    related: list[str] = []
    for loser in losers:
        related += reparent(account, obj.name, loser["Id"], master["Id"], actor)
        delete(account, obj.name, loser["Id"], actor, master_id=master["Id"])
    if not changes:  # the master is touched by the merge even without field overrides
        now = stamp(account.extra)
        master.update({"LastModifiedDate": now, "LastModifiedById": actor, "SystemModstamp": now})
    return {"id": master["Id"], "mergedRecordIds": [loser["Id"] for loser in losers],
            "updatedRelatedIds": related, "record": master}


def _merge_target(account: Account, obj: SObject, record_id: str) -> dict[str, Any]:
    found = find(account, record_id) if ids.looks_like_id(record_id) else None
    if found is None or found[0] != obj.name:
        raise SFError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {record_id}")
    if found[1].get("IsDeleted"):
        raise SFError("ENTITY_IS_DELETED", "entity is deleted")
    return found[1]
