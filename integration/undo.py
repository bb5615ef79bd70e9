"""Undo an auto-merge from its snapshot (issue 6). No CRM offers undo, so LeadRelay rebuilds what it can.

The loser comes back as a new record (CRMs don't revive merged ids) with the values and owner it had; the
survivor gets back the values the merge changed (cleared where they were empty). Both are re-indexed for
dedup, and the undo is audited. A snapshot is undone once: a second call reports the first and changes nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.dedup_index import forget_record, index_record
from integration.errors import CRMConflict, CRMValidationError, LeadRelayError
from integration.models import Decision, MergeSnapshot, Tenant, utcnow
from integration.protocols import CRMAdapter
from integration.records import Record

log = logging.getLogger("leadrelay.undo")
NOT_FIELDS = frozenset({"id", "created_at", "owner_id", "extra_emails", "extra_phones"})


class UndoError(LeadRelayError, LookupError):
    """The merge cannot be undone: unknown tenant or snapshot, or a merge the CRM never made."""


def undo_merge(session: Session, tenant_id: int, snapshot_id: int, adapter: CRMAdapter) -> str:
    """Undo one merge; returns a one-line summary. Idempotent: an undone snapshot is reported, not redone.

    Commits the session as soon as the loser is re-created, so a failure after that never creates it twice.
    """
    snapshot = _snapshot(session, tenant_id, snapshot_id)
    if snapshot.status == "undone":
        return (f"merge #{snapshot.id} was undone already ({snapshot.undone_at:%Y-%m-%d %H:%M}): "
                f"{snapshot.loser_id} lives on as {snapshot.restored_id}")
    notes: list[str] = []
    restored_fields: list[str] = []
    survivor = adapter.get_record(snapshot.object_type, snapshot.survivor_id)
    if survivor is None:
        notes.append(f"{snapshot.survivor_id} is gone from the CRM: only the loser is re-created")
    else:
        restored_fields = _write(adapter, snapshot, survivor_changes(snapshot, survivor), notes)
        if restored_fields:
            survivor = adapter.get_record(snapshot.object_type, snapshot.survivor_id) or survivor
    if snapshot.restored_id is None:
        snapshot.restored_id = _recreate_loser(adapter, snapshot, survivor, notes)
        _keep_unrouted(session, snapshot)
        session.commit()  # the CRM has the new record now: never create it a second time
    restored = adapter.get_record(snapshot.object_type, snapshot.restored_id)
    forget_record(session, tenant_id, snapshot.object_type, snapshot.loser_id)
    for record in (survivor, restored):
        if record is not None:
            index_record(session, tenant_id, record)
    summary = (f"Undid merge #{snapshot.id}: {snapshot.loser_id} re-created as {snapshot.restored_id}; "
               f"{snapshot.survivor_id} restored ({', '.join(restored_fields) or 'no field to change'})")
    summary = "; ".join([summary, *notes])
    _audit(session, snapshot, summary, restored_fields, notes)
    snapshot.status, snapshot.undone_at = "undone", utcnow()
    log.info("undo.merge-undone", extra={"tenant_id": tenant_id, "snapshot_id": snapshot.id,
                                         "restored_id": snapshot.restored_id})
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


def survivor_changes(snapshot: MergeSnapshot, current: Record) -> dict[str, Any]:
    """What to write on the survivor: each field the merge changed, back to its value before (None clears).

    That is what LeadRelay set (merged_fields) and what the native merge filled from the loser into a field
    the survivor had empty (all three platforms do that); other values, edited since, are left alone.
    """
    before, loser = snapshot.survivor_before, snapshot.loser_before
    filled = {k for k, v in current.fields.items() if _empty(before.get(k)) and _same(v, loser.get(k))}
    keys = (set(snapshot.merged_fields) | filled) - NOT_FIELDS - derived_fields(before, loser, current.fields)
    return {k: None if _empty(before.get(k)) else before[k] for k in sorted(keys)
            if not _same(current.fields.get(k), before.get(k))}


def derived_fields(*values: Mapping[str, Any]) -> set[str]:
    """Fields the CRM computes from others on these records: a person's full name, an email's domain."""
    names = {k for v in values for k, x in v.items() if not _empty(x)}
    return ({"name"} if names & {"first_name", "last_name"} else set()) | ({"domain"} if "email" in names else set())


def _write(adapter: CRMAdapter, snapshot: MergeSnapshot, changes: dict[str, Any], notes: list[str]) -> list[str]:
    """Write the changes in one call; when the CRM refuses one, field by field, noting the refused ones."""
    if not changes:
        return []
    try:
        adapter.set_fields(snapshot.object_type, snapshot.survivor_id, changes)
        return list(changes)
    except CRMValidationError:
        pass  # one field the platform won't take (a required one cleared): find it below
    done = []
    for name, value in changes.items():
        try:
            adapter.set_fields(snapshot.object_type, snapshot.survivor_id, {name: value})
            done.append(name)
        except CRMValidationError as exc:
            notes.append(f"{name} left as merged (the CRM refused it: {exc})")
    return done


def _recreate_loser(adapter: CRMAdapter, snapshot: MergeSnapshot, survivor: Record | None,
                    notes: list[str]) -> str:
    loser = snapshot.loser_before
    skip = NOT_FIELDS | derived_fields(loser)
    fields = {k: v for k, v in loser.items() if k not in skip and not _empty(v)}
    email = fields.get("email")
    if email and survivor is not None and str(email).casefold() in _gained_emails(snapshot, survivor):
        fields.pop("email")  # HubSpot keeps the loser's email as an additional one, unique among contacts
        notes.append(f"email {email} kept off the new record: {survivor.id} still has it")
    if loser.get("extra_emails") or loser.get("extra_phones"):
        notes.append("its additional emails/phones are not re-created")
    try:
        return adapter.create_record(snapshot.object_type, fields, loser.get("owner_id"))
    except CRMConflict:
        if "email" not in fields:
            raise
        fields.pop("email")
        notes.append(f"email {email} kept off the new record: the CRM has it on another record")
        return adapter.create_record(snapshot.object_type, fields, loser.get("owner_id"))


def _gained_emails(snapshot: MergeSnapshot, survivor: Record) -> set[str]:
    """Emails the survivor holds now but did not before the merge."""
    before = snapshot.survivor_before
    return (_emails(survivor.fields.get("email"), survivor.extra_emails)
            - _emails(before.get("email"), before.get("extra_emails") or ()))


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
    key = f"route:{snapshot.object_type}:{snapshot.restored_id}"
    if session.scalar(select(Decision.id).where(Decision.tenant_id == snapshot.tenant_id,
                                                Decision.idempotency_key == key)):
        return
    session.add(Decision(tenant_id=snapshot.tenant_id, idempotency_key=key, kind="route",
                         object_type=snapshot.object_type, object_id=str(snapshot.restored_id), outcome="restored",
                         reason=f"Re-created by undoing merge #{snapshot.id}: keeps its owner, not routed again",
                         inputs={"snapshot_id": snapshot.id}))


def _emails(primary: Any, extra: Iterable[Any]) -> set[str]:
    return {str(e).casefold() for e in (primary, *extra) if not _empty(e)}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(a: Any, b: Any) -> bool:
    return (_empty(a) and _empty(b)) or (not _empty(a) and not _empty(b) and str(a) == str(b))
