"""Undo a merge from its snapshot (issues 6 and 13). No CRM offers undo, so LeadRelay rebuilds both records.

The survivor gets back every value its snapshot holds and loses what the merge brought from the loser (a value
filled into one of its empty fields, the loser's emails and phones kept as additional ones; survivor_changes says
what is left alone). The survivor goes first, so a value the CRM keeps unique (a HubSpot contact email, also as an
additional one) is free again when the loser comes back as a new record (CRMs don't revive merged ids) with every
value, its additional emails and phones, and its owner. Both records are read back afterwards: whatever did not
come back is named in the summary with the CRM's reason. Both are re-indexed for dedup, and the undo is audited.
A snapshot is undone once: a second call reports the first and changes nothing; a call that failed half-way
finishes the rest (every step compares with the CRM first).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.dedup.index import forget_record, index_record
from integration.errors import CRMConflict, CRMValidationError, LeadRelayError
from integration.models import Decision, MergeSnapshot, Tenant, utcnow
from integration.protocols import CRMAdapter
from integration.records import Record
from integration.work import route_key

log = logging.getLogger("leadrelay.undo")
NOT_FIELDS = frozenset({"id", "created_at", "owner_id", "extra_emails", "extra_phones"})
LISTS = (("emails", "email"), ("phones", "phone"))  # additional values, next to the primary field
REFUSED = (CRMValidationError, CRMConflict)  # the CRM will not take this value: said, and the undo goes on


class UndoError(LeadRelayError, LookupError):
    """The merge cannot be undone: unknown tenant or snapshot, or a merge the CRM never made."""


@dataclass
class Report:
    """What the undo could not restore, one note per record and value (a later check repeats none)."""

    notes: list[str] = field(default_factory=list)
    said: set[tuple[str, str]] = field(default_factory=set)

    def refused(self, record_id: str, name: str, value: Any, why: Any) -> None:
        """`name` (= `value`) did not come back on the record, for this reason."""
        if (record_id, name) not in self.said:
            self.said.add((record_id, name))
            self.notes.append(f"could not restore {name} {_shown(value)} on {record_id}: {why}")


def undo_merge(session: Session, tenant_id: int, snapshot_id: int, adapter: CRMAdapter) -> str:
    """Undo one merge; returns a one-line summary. Idempotent: an undone snapshot is reported, not redone.

    Commits the session as soon as the loser is re-created, so a failure after that never creates it twice.
    """
    snapshot = _snapshot(session, tenant_id, snapshot_id)
    if snapshot.status == "undone":
        return (f"merge #{snapshot.id} was undone already ({snapshot.undone_at:%Y-%m-%d %H:%M}): "
                f"{snapshot.loser_id} lives on as {snapshot.restored_id}")
    report = Report()
    survivor, restored_fields = _restore_survivor(adapter, snapshot, report)
    if snapshot.restored_id is None:
        snapshot.restored_id = _recreate_loser(adapter, snapshot, report)
        _keep_unrouted(session, snapshot)
        session.commit()  # the CRM has the new record now: never create it a second time
    restored = _complete_loser(adapter, snapshot, report)
    forget_record(session, tenant_id, snapshot.object_type, snapshot.loser_id)
    for record in (survivor, restored):
        if record is not None:
            index_record(session, tenant_id, record)
    summary = (f"Undid merge #{snapshot.id}: {snapshot.loser_id} re-created as {snapshot.restored_id}; "
               f"{snapshot.survivor_id} restored ({', '.join(restored_fields) or 'no field to change'})")
    summary = "; ".join([summary, *(report.notes or ["every value of the snapshot is back"])])
    _audit(session, snapshot, summary, restored_fields, report.notes)
    snapshot.status, snapshot.undone_at = "undone", utcnow()
    log.info("undo.merge-undone", extra={"tenant_id": tenant_id, "snapshot_id": snapshot.id,
                                         "restored_id": snapshot.restored_id, "unrestored": len(report.notes)})
    return summary


def _snapshot(session: Session, tenant_id: int, snapshot_id: int) -> MergeSnapshot:
    if session.get(Tenant, tenant_id) is None:
        raise UndoError(f"no tenant {tenant_id}; `leadrelay tenants list` shows the ids")
    snapshot = MergeSnapshot.get_for_tenant(session, snapshot_id, tenant_id)
    if snapshot is None:
        raise UndoError(f"no merge snapshot {snapshot_id} for tenant {tenant_id}; `leadrelay merges list` shows them")
    if snapshot.status not in ("merged", "undone"):
        raise UndoError(f"merge snapshot {snapshot_id} is {snapshot.status}: the CRM never merged it, nothing to undo")
    return snapshot


# the survivor -------------------------------------------------------------------------------------------------
def _restore_survivor(adapter: CRMAdapter, snapshot: MergeSnapshot, report: Report) -> tuple[Record | None, list]:
    """Write the survivor back to its snapshot; the survivor as it is afterwards, and what was written."""
    survivor = adapter.get_record(snapshot.object_type, snapshot.survivor_id)
    if survivor is None:
        report.notes.append(f"{snapshot.survivor_id} is gone from the CRM: only the loser is re-created")
        return None, []
    changes, lists = survivor_changes(snapshot, survivor), additional_changes(snapshot, survivor)
    # the lists first: a CRM that promotes an additional value when the primary is cleared (Pipedrive) would
    # otherwise make the loser's additional phone the survivor's primary one
    done = _write_lists(adapter, survivor, lists, report) + _write(adapter, survivor, changes, report)
    _owner_note(snapshot, survivor, report)
    if not done:
        return survivor, []
    survivor = adapter.get_record(snapshot.object_type, survivor.id) or survivor
    _check(survivor, {k: v for k, v in changes.items() if k in done}, lists, report)
    return survivor, done


def survivor_changes(snapshot: MergeSnapshot, current: Record) -> dict[str, Any]:
    """What to write on the survivor: each field that differs from the snapshot, back to its value (None clears).

    That is every value the snapshot holds, what LeadRelay set (merged_fields), and what the native merge filled
    from the loser into a field the survivor had empty (all three platforms do that). Left alone: a field the
    snapshot had empty that holds something else now (edited since), and one the CRM shows empty now (no merge
    empties a survivor's value: cleared since, or a value this CRM does not read back on the record, such as a
    Pipedrive person's organization name found by a search).
    """
    before, loser = snapshot.survivor_before, snapshot.loser_before
    held = {k for k, v in before.items() if not _empty(v) and not _empty(current.fields.get(k))}
    filled = {k for k, v in current.fields.items() if _empty(before.get(k)) and _same(v, loser.get(k))}
    keys = (held | set(snapshot.merged_fields) | filled) - NOT_FIELDS - derived_fields(before, loser, current.fields)
    return {k: None if _empty(before.get(k)) else before[k] for k in sorted(keys)
            if not _same(current.fields.get(k), before.get(k))}


def additional_changes(snapshot: MergeSnapshot, current: Record) -> dict[str, list[str]]:
    """The survivor's additional emails/phones without those the merge brought from the loser (by list name)."""
    before, loser = snapshot.survivor_before, snapshot.loser_before
    out = {}
    for name, primary in LISTS:
        have = getattr(current, f"extra_{name}")
        brought = (_values(loser.get(primary), loser.get(f"extra_{name}") or ())
                   - _values(before.get(primary), before.get(f"extra_{name}") or ()))
        kept = [v for v in have if _key(v) not in brought]
        if len(kept) != len(have):
            out[name] = kept
    return out


def derived_fields(*values: Mapping[str, Any]) -> set[str]:
    """Fields the CRM computes from others on these records: a person's full name, an email's domain."""
    names = {k for v in values for k, x in v.items() if not _empty(x)}
    return ({"name"} if names & {"first_name", "last_name"} else set()) | ({"domain"} if "email" in names else set())


def _owner_note(snapshot: MergeSnapshot, survivor: Record, report: Report) -> None:
    """HubSpot fills an unowned survivor's owner from the loser; LeadRelay never clears an owner."""
    before, loser_owner = snapshot.survivor_before.get("owner_id"), snapshot.loser_before.get("owner_id")
    if _empty(before) and survivor.owner_id and survivor.owner_id == loser_owner:
        report.refused(survivor.id, "owner", None,
                       f"{survivor.owner_id} came with the merge, and LeadRelay does not clear an owner")


# the loser ----------------------------------------------------------------------------------------------------
def loser_fields(snapshot: MergeSnapshot) -> dict[str, Any]:
    """Every value of the loser's snapshot a new record can take (the CRM derives the rest)."""
    loser = snapshot.loser_before
    skip = NOT_FIELDS | derived_fields(loser)
    return {k: v for k, v in loser.items() if k not in skip and not _empty(v)}


def _recreate_loser(adapter: CRMAdapter, snapshot: MergeSnapshot, report: Report) -> str:
    """The loser as a new record; without its owner when the CRM refuses that (a user deactivated since)."""
    fields, owner = loser_fields(snapshot), snapshot.loser_before.get("owner_id")
    # what the CRM only reads (an email opt-out HubSpot and Pipedrive keep behind their own consent APIs) can't be
    # written into a new record: left out; an opt-out that was set is said, so a person re-applies it
    writable = adapter.writable_fields(snapshot.object_type)
    for name in [k for k in fields if k not in writable]:
        value = fields.pop(name)
        if value is True:
            report.notes.append(f"{name} was set on the merged-away record; the CRM does not take it through its "
                                f"API: set it on the re-created record by hand")
    try:
        return _create(adapter, snapshot.object_type, fields, owner, report)
    except CRMValidationError as exc:
        if not owner:
            raise
        new_id = _create(adapter, snapshot.object_type, fields, None, report)
        report.refused(new_id, "owner", owner, f"the CRM refused it ({exc})")
        return new_id


def _create(adapter: CRMAdapter, object_type: str, fields: dict[str, Any], owner: str | None, report: Report) -> str:
    """Create the record; without its email when another record holds it (a CRM that keeps emails unique)."""
    try:
        return adapter.create_record(object_type, fields, owner)
    except CRMConflict as exc:
        if "email" not in fields:
            raise
        new_id = adapter.create_record(object_type, {k: v for k, v in fields.items() if k != "email"}, owner)
        report.refused(new_id, "email", fields["email"], f"the CRM keeps emails unique and another record has it "
                                                         f"({exc})")
        return new_id


def _complete_loser(adapter: CRMAdapter, snapshot: MergeSnapshot, report: Report) -> Record | None:
    """The re-created loser's additional emails/phones, then a check of every value against the snapshot."""
    restored = adapter.get_record(snapshot.object_type, snapshot.restored_id)
    if restored is None:
        report.notes.append(f"the re-created record {snapshot.restored_id} is gone from the CRM")
        return None
    loser = snapshot.loser_before
    lists = {name: list(loser.get(f"extra_{name}") or ()) for name, _ in LISTS}
    lists = {k: v for k, v in lists.items() if not _same_list(v, getattr(restored, f"extra_{k}"))}
    if _write_lists(adapter, restored, lists, report):
        restored = adapter.get_record(snapshot.object_type, restored.id) or restored
    _check(restored, loser_fields(snapshot), lists, report)
    if (owner := loser.get("owner_id")) and restored.owner_id != owner:
        report.refused(restored.id, "owner", owner, f"the CRM has {_shown(restored.owner_id)}")
    return restored


# writes and checks --------------------------------------------------------------------------------------------
def _write(adapter: CRMAdapter, record: Record, changes: dict[str, Any], report: Report) -> list[str]:
    """Write the changes in one call; when the CRM refuses one, field by field, noting the refused ones."""
    if not changes:
        return []
    try:
        adapter.set_fields(record.object_type, record.id, changes)
        return list(changes)
    except REFUSED:
        pass  # one field the platform won't take (a required one cleared): find it below
    done = []
    for name, value in changes.items():
        try:
            adapter.set_fields(record.object_type, record.id, {name: value})
            done.append(name)
        except REFUSED as exc:
            report.refused(record.id, name, value, f"left as merged, the CRM refused it ({exc})")
    return done


def _write_lists(adapter: CRMAdapter, record: Record, lists: dict[str, list[str]], report: Report) -> list[str]:
    done = []
    for name, values in lists.items():
        try:
            adapter.set_additional(record.object_type, record.id, **{name: values})
            done.append(f"additional {name}")
        except REFUSED as exc:
            report.refused(record.id, f"additional {name}", values, exc)
    return done


def _check(record: Record, wanted: dict[str, Any], lists: dict[str, list[str]], report: Report) -> None:
    """Name every value the CRM did not keep as written (it may drop or change one without an error)."""
    for name, value in wanted.items():
        if not _same(record.fields.get(name), value):
            report.refused(record.id, name, value, f"the CRM has {_shown(record.fields.get(name))}")
    for name, values in lists.items():
        if not _same_list(values, have := getattr(record, f"extra_{name}")):
            report.refused(record.id, f"additional {name}", values, f"the CRM has {_shown(list(have))}")


def _audit(session: Session, snapshot: MergeSnapshot, summary: str, fields: list[str], notes: list[str]) -> None:
    tenant_id, object_type, new_id = snapshot.tenant_id, snapshot.object_type, snapshot.restored_id
    session.add(Decision(tenant_id=tenant_id, idempotency_key=f"undo:{object_type}:{snapshot.id}", kind="undo",
                         object_type=object_type, object_id=snapshot.loser_id, outcome=f"restored as {new_id}",
                         reason=summary[:500], inputs={"snapshot_id": snapshot.id, "survivor_id": snapshot.survivor_id,
                                                       "restored_id": new_id, "survivor_fields": fields,
                                                       "notes": notes}))


def _keep_unrouted(session: Session, snapshot: MergeSnapshot) -> None:
    """The pipeline routes (and dedups) a lead once per route key (pipeline.route_key): with this decision,
    committed with the new id, the re-created record's webhook can't make it a new lead merged straight back."""
    key = route_key(snapshot.object_type, snapshot.restored_id)
    if session.scalar(select(Decision.id).where(Decision.tenant_id == snapshot.tenant_id,
                                                Decision.idempotency_key == key)):
        return
    session.add(Decision(tenant_id=snapshot.tenant_id, idempotency_key=key, kind="route",
                         object_type=snapshot.object_type, object_id=str(snapshot.restored_id), outcome="restored",
                         reason=f"Re-created by undoing merge #{snapshot.id}: keeps its owner, not routed again",
                         inputs={"snapshot_id": snapshot.id}))


def _values(primary: Any, extra: Iterable[Any]) -> set[str]:
    return {_key(e) for e in (primary, *extra) if not _empty(e)}


def _same_list(a: Iterable[Any], b: Iterable[Any]) -> bool:
    return {_key(v) for v in a} == {_key(v) for v in b}


def _key(value: Any) -> str:
    return str(value).strip().casefold()


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return "empty" if _empty(value) else str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(a: Any, b: Any) -> bool:
    return (_empty(a) and _empty(b)) or (not _empty(a) and not _empty(b) and str(a) == str(b))
