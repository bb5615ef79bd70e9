"""Records merged in the CRM: what LeadRelay keeps under the old ids moves to the id the merged record lives under.

A merge leaves one record. On Salesforce and Pipedrive it is the survivor, which keeps its id; on HubSpot it is a new
record with a new id, and both old ids are gone (developer changelog "Updated merge functionality for contacts and
companies"; deals: "Announcement: Deals now support merging"). Either way `remap_merged(old_ids, new_id)` moves what
LeadRelay keeps by record id, whoever merged (LeadRelay's dedup, the review queue, a person in the CRM, whose merge
webhook intake hands over):

- the dedup index (the keys of all the records, once each),
- decisions (audit) and SLA timers and cadence steps (their scheduled checks take the row id, so they follow),
  with their keys (`<kind>:<object type>:<id>...`) rewritten to the new id where that key is free; a decision
  keeps the id it was made under in `inputs["merged_from"]`,
- review items (an open duplicate pair that became one record is resolved: "merged in the CRM"),
- merge snapshots (so an undo restores the record where it lives now),
- the echo log of our own recent writes.

Keys stay unique: where two rows would take the same key, the first keeps it (a row already on the new id, then the
old ids in the order given: the primary first) and the other keeps its own. Two open SLA clocks of one tier (both
records were routed) become one: the earlier due stays, the other ends as "merged" (its task stays in the CRM).
Idempotent: a merge webhook arriving twice, or after LeadRelay remapped its own merge, finds nothing left to move.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from integration.models import Decision, DedupKey, MergeSnapshot, ReviewItem, SlaTimer, utcnow

log = logging.getLogger("leadrelay.merged")
OPEN = frozenset({"pending", "planned", "breached"})  # clocks and cadence steps that still act


class MovableWrites(Protocol):
    def move(self, object_type: str, old_ids: Sequence[str], new_id: str) -> None:
        """Our recent writes on the old records count as writes on the merged one."""


@dataclass
class Remapped:
    """What moved: rows per table, and the SLA clocks stopped because the merged record keeps another."""

    moved: dict[str, int] = field(default_factory=dict)
    stopped: list[int] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(any(self.moved.values()) or self.stopped)


def remap_merged(session: Session, tenant_id: int, object_type: str, old_ids: Iterable[str], new_id: str,
                 writes: MovableWrites | None = None) -> Remapped:
    """Move everything LeadRelay keeps under `old_ids` to `new_id` (flushed, not committed); see the module doc."""
    new_id = str(new_id)
    old = [i for i in dict.fromkeys(str(i) for i in old_ids) if i != new_id]
    done = Remapped()
    if not old:
        return done
    scope = _Scope(session, tenant_id, object_type, old, new_id)
    done.moved["dedup_keys"] = _dedup_keys(scope)
    done.moved["decisions"] = _decisions(scope)
    done.moved["sla_timers"], done.stopped = _timers(scope)
    done.moved["review_items"] = _review_items(scope)
    done.moved["merge_snapshots"] = _snapshots(scope)
    if writes is not None:
        writes.move(object_type, old, new_id)
    session.flush()
    if done.anything:
        log.info("merged.remapped", extra={"tenant_id": tenant_id, "object_type": object_type, "old_ids": old,
                                           "new_id": new_id, "moved": done.moved, "stopped": done.stopped})
    return done


@dataclass(frozen=True)
class _Scope:
    session: Session
    tenant_id: int
    object_type: str
    old: list[str]
    new: str

    def moved_key(self, key: str, object_id: str) -> str:
        """`<kind>:<object type>:<old id>...` with the new id; any other key as it is."""
        parts = key.split(":")
        if len(parts) >= 3 and parts[1] == self.object_type and parts[2] == object_id:
            parts[2] = self.new
        return ":".join(parts)[:200]

    def rank(self, object_id: str) -> int:
        """Rows already on the new id first, then the old ids in the order given (the primary first)."""
        return 0 if object_id == self.new else 1 + self.old.index(object_id)


def _dedup_keys(scope: _Scope) -> int:
    rows = scope.session.scalars(select(DedupKey).where(
        DedupKey.tenant_id == scope.tenant_id, DedupKey.object_type == scope.object_type,
        DedupKey.object_id.in_([*scope.old, scope.new]))).all()
    have = {(r.key_type, r.key_value) for r in rows if r.object_id == scope.new}
    moving = [r for r in rows if r.object_id != scope.new]
    wanted = sorted({(r.key_type, r.key_value) for r in moving} - have)
    scope.session.execute(delete(DedupKey).where(DedupKey.id.in_([r.id for r in moving])))
    scope.session.add_all(DedupKey(tenant_id=scope.tenant_id, key_type=kt, key_value=kv,
                                   object_type=scope.object_type, object_id=scope.new, updated_at=utcnow())
                          for kt, kv in wanted)
    return len(moving)


def _decisions(scope: _Scope) -> int:
    rows = _rows(scope, Decision)
    moving = sorted((r for r in rows if r.object_id != scope.new), key=lambda r: (scope.rank(r.object_id), r.id))
    taken = _taken_keys(scope, Decision, Decision.idempotency_key,
                        [scope.moved_key(r.idempotency_key, r.object_id) for r in moving])
    for row in moving:
        key = scope.moved_key(row.idempotency_key, row.object_id)
        if key not in taken:
            row.idempotency_key = key
            taken.add(key)
        if "merged_from" not in (row.inputs or {}):  # the id it was decided under, for whoever knew the lead by it
            row.inputs = {**(row.inputs or {}), "merged_from": row.object_id}
        row.object_id = scope.new
    return len(moving)


def _timers(scope: _Scope) -> tuple[int, list[int]]:
    rows = _rows(scope, SlaTimer)
    groups: dict[str, list[SlaTimer]] = {}
    for row in rows:
        groups.setdefault(scope.moved_key(row.key, row.object_id), []).append(row)
    elsewhere = _held_elsewhere(scope, list(groups), {r.id for r in rows})
    winners: dict[str, SlaTimer] = {}
    stopped: list[int] = []
    for key, group in groups.items():
        if key in elsewhere:
            continue  # another record's row has the key (not one of ours): every row keeps its own
        group.sort(key=lambda r: (r.status not in OPEN, r.due_at, scope.rank(r.object_id), r.id))
        winners[key] = winner = group[0]
        for row in group[1:]:
            if row.key == key:  # the new id's own row gives the key up to an open or earlier clock
                row.key = f"{key}:m{row.id}"[:200]
            if row.status in OPEN and winner.status in OPEN:
                stopped.append(_stop(scope, row, winner))
    scope.session.flush()  # keys given up are free before the winners take them
    for key, winner in winners.items():
        winner.key = key
    moving = [r for r in rows if r.object_id != scope.new]
    for row in moving:
        row.object_id = scope.new
    return len(moving), stopped


def _stop(scope: _Scope, timer: SlaTimer, kept: SlaTimer) -> int:
    """Two open clocks of one tier on the merged record: this one (due later) ends; the other goes on."""
    timer.status = "merged"
    scope.session.add(Decision(
        tenant_id=scope.tenant_id, idempotency_key=f"{timer.key}:merged"[:200], kind="sla",
        object_type=scope.object_type, object_id=scope.new, outcome="merged",
        reason=(f"Merged into {scope.new}, which has its own open {timer.policy} clock (due "
                f"{kept.due_at.isoformat()}): this one stops; its task stays in the CRM")[:500],
        inputs={"timer_id": timer.id, "kept_timer_id": kept.id, "task_id": timer.task_id,
                "owner_id": timer.owner_id}))
    return timer.id


def _review_items(scope: _Scope) -> int:
    rows = scope.session.scalars(ReviewItem.for_tenant(scope.tenant_id).where(
        ReviewItem.object_type == scope.object_type,
        ReviewItem.object_id.in_(scope.old) | ReviewItem.other_object_id.in_(scope.old))).all()
    for item in rows:
        item.object_id = scope.new if item.object_id in scope.old else item.object_id
        if item.other_object_id in scope.old:
            item.other_object_id = scope.new
        if item.status == "open" and item.kind == "dedup" and item.object_id == item.other_object_id:
            item.status, item.resolution = "resolved", "merged in the CRM"
            item.resolved_by, item.resolved_at = "LeadRelay", utcnow()
    return len(rows)


def _snapshots(scope: _Scope) -> int:
    rows = scope.session.scalars(MergeSnapshot.for_tenant(scope.tenant_id).where(
        MergeSnapshot.object_type == scope.object_type, MergeSnapshot.survivor_id.in_(scope.old))).all()
    pairs = set(scope.session.scalars(select(MergeSnapshot.loser_id).where(
        MergeSnapshot.tenant_id == scope.tenant_id, MergeSnapshot.object_type == scope.object_type,
        MergeSnapshot.survivor_id == scope.new)))
    moved = 0
    for snapshot in rows:
        if snapshot.loser_id not in pairs:  # one snapshot per (survivor, loser): a second stays where it was
            snapshot.survivor_id = scope.new
            pairs.add(snapshot.loser_id)
            moved += 1
    return moved


def _rows(scope: _Scope, model) -> list:
    return list(scope.session.scalars(model.for_tenant(scope.tenant_id).where(
        model.object_type == scope.object_type, model.object_id.in_([*scope.old, scope.new]))
        .order_by(model.id)).all())


def _taken_keys(scope: _Scope, model, column, keys: list[str]) -> set[str]:
    """Of `keys`, those a row holds already (on the new id, or of another record)."""
    if not keys:
        return set()
    return set(scope.session.scalars(select(column).where(model.tenant_id == scope.tenant_id, column.in_(keys))))


def _held_elsewhere(scope: _Scope, keys: list[str], ours: set[int]) -> set[str]:
    """Of `keys`, those held by a timer that is not one of the merged records' own."""
    if not keys:
        return set()
    return set(scope.session.scalars(select(SlaTimer.key).where(
        SlaTimer.tenant_id == scope.tenant_id, SlaTimer.key.in_(keys), SlaTimer.id.not_in(ours))))
