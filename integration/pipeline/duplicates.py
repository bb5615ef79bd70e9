"""Pipeline step 4: a new lead against its duplicate candidates — merge the sure, queue the unsure."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from integration.crm.merged_records import remap_merged
from integration.dedup import classify, score_pair, survivor
from integration.dedup.tenant import scoring_context
from integration.errors import CRMNotFound, CRMValidationError
from integration.models import Decision, MergeSnapshot, ReviewItem, utcnow
from integration.records import Record, TaskSpec
from integration.work import route_key

if TYPE_CHECKING:
    from integration.pipeline.flow import Batch

log = logging.getLogger("leadrelay.pipeline.dedup")
MAX_CANDIDATES = 20


class Merged(NamedTuple):
    """A sure duplicate merged: the id the merged record lives under (HubSpot: a new one), whether the new lead is
    the survivor (then `owner_id` is the owner of the record merged into it, which the survivor keeps), and the
    ids of both records before the merge (the survivor's first)."""

    survivor_id: str
    new_lead_survived: bool
    owner_id: str | None = None
    old_ids: tuple[str, ...] = ()


def as_dict(record: Record) -> dict[str, Any]:
    return {**record.fields, "id": record.id, "created_at": record.created_at, "owner_id": record.owner_id,
            "extra_emails": list(record.extra_emails), "extra_phones": list(record.extra_phones)}


def _candidates(ctx: Batch, record: Record, indexed: set[tuple[str, str]],
                read: Mapping[str, Record] | None = None) -> list[Record]:
    """The records the index names (read as they are now), and, while the index may be incomplete, the CRM's own
    duplicate search as well.

    Neither alone may conclude "no twin" then: the index does not know older records until the backfill has run,
    and the CRM's search may not see a record created or changed within its SEARCH_LAG, which the index, filled
    as records arrive, already holds.
    """
    ids = sorted(i for t, i in indexed if t == record.object_type)[:MAX_CANDIDATES]
    if read is not None:  # read before, for a whole batch in one call
        known = [read[i] for i in ids if i in read]
    else:
        known = ctx.adapter.get_records(record.object_type, ids) if ids else []
    if (ctx.tenant.settings or {}).get("index_complete"):
        return known  # the backfill indexed every record: no key in common means no candidate
    f = record.fields
    found = ctx.adapter.find_duplicate_candidates(
        record.object_type, emails=[e for e in (f.get("email"),) if e], phones=[p for p in (f.get("phone"),) if p],
        name=" ".join(x for x in (f.get("first_name"), f.get("last_name")) if x) or None, company=f.get("company"))
    seen = {c.id for c in known} | {record.id}
    return known + [c for c in found if c.id not in seen][:max(0, MAX_CANDIDATES - len(known))]


def candidate_records(ctx: Batch, record: Record, indexed: set[tuple[str, str]],
                      read: Mapping[str, Record] | None = None) -> list[Record]:
    """The records that may be `record`'s twin: those the index names, then the CRM's search (`_candidates`).
    `read`: the index's candidates already read, by id (a batch reads all of its own in one call)."""
    return _candidates(ctx, record, indexed, read)


def tenant_scoring_for(ctx: Batch) -> AbstractContextManager[None]:
    """Score inside this block with the batch's tenant's stored calibration (read once per batch)."""
    return scoring_context(ctx.dedup_scoring)


def resolve_duplicates(ctx: Batch, record: Record, indexed: set[tuple[str, str]]) -> Merged | None:
    """Merge a sure duplicate (None when there was none to merge) or queue a review."""
    policy = ctx.rules.dedup
    found = _candidates(ctx, record, indexed)
    with tenant_scoring_for(ctx):
        scored = [(score_pair(as_dict(record), as_dict(c)), c) for c in found]
    if not scored:
        return None
    result, best = max(scored, key=lambda pair: pair[0].score)
    verdict = classify(result.score, policy.auto_merge, policy.review)
    if verdict == "review":
        queue_review(ctx, record, best, result.score, result.reasons)
    if verdict != "merge":
        return None
    return _merge(ctx, record, best, result.score, result.reasons)


def _merge(ctx: Batch, record: Record, other: Record, score: float, reasons: list[str]) -> Merged | None:
    plan = survivor(as_dict(other), as_dict(record), ctx.rules.dedup.keep)  # ties: the existing record stays
    keep, lose = (record, other) if plan.survivor["id"] == record.id else (other, record)
    fields = {k: v for k, v in plan.merged.items()
              if v not in (None, "") and keep.fields.get(k) in (None, "")
              and k not in ("id", "created_at", "owner_id", "extra_emails", "extra_phones")}
    snapshot = MergeSnapshot(tenant_id=ctx.tenant_id, object_type=record.object_type, survivor_id=keep.id,
                             loser_id=lose.id, score=round(score, 4), survivor_before=_snap(keep),
                             loser_before=_snap(lose), merged_fields=fields)
    ctx.session.add(snapshot)
    ctx.session.flush()  # the snapshot exists before the CRM merges: a merge can always be undone
    try:
        result = ctx.adapter.merge(record.object_type, keep.id, lose.id, fields or None)
    except CRMNotFound:
        snapshot.status = "skipped"
        return None
    snapshot.status, snapshot.survivor_id = "merged", result.survivor_id
    survivor_id, old_ids = result.survivor_id, (keep.id, lose.id)
    reason = f"Merged {lose.id} into {survivor_id} (score {score:.2f}: {'; '.join(reasons[:4])})"
    key = f"dedup:{record.object_type}:{min(keep.id, lose.id)}:{max(keep.id, lose.id)}"
    ctx.session.add(Decision(tenant_id=ctx.tenant_id, idempotency_key=key, kind="dedup",
                             object_type=record.object_type, object_id=lose.id, outcome=f"merged into {survivor_id}",
                             reason=reason[:500], inputs={"score": score, "snapshot_id": snapshot.id,
                                                          "merged_ids": list(result.merged_ids)}))
    if lose.id == record.id:
        ctx.session.add(Decision(tenant_id=ctx.tenant_id, idempotency_key=route_key(record.object_type, record.id),
                                 kind="route", object_type=record.object_type, object_id=record.id,
                                 outcome="merged", reason=f"Duplicate of {keep.id}: stays with its owner",
                                 inputs={"snapshot_id": snapshot.id}))
        merged = Merged(survivor_id, new_lead_survived=False, old_ids=old_ids)
        follow_merge(ctx, record.object_type, merged)
        return merged
    # the new lead survived: its own route decision comes first (pipeline.handle_lead), then follow_merge
    return Merged(survivor_id, new_lead_survived=True, owner_id=lose.owner_id, old_ids=old_ids)


def follow_merge(ctx: Batch, object_type: str, merged: Merged) -> None:
    """What LeadRelay keeps under the merged records' old ids moves to the id the merged record lives under (on
    HubSpot a new one): dedup index, decisions, SLA timers, review items, snapshots, owner writes not sent yet."""
    remap_merged(ctx.session, ctx.tenant_id, object_type, merged.old_ids, merged.survivor_id)
    for item in ctx.pending:
        if item.record.id in merged.old_ids:
            item.record = dataclasses.replace(item.record, id=merged.survivor_id)


def _snap(record: Record) -> dict[str, Any]:
    values = as_dict(record)
    values["created_at"] = record.created_at.isoformat() if record.created_at else None
    return values


def _name(record: Record) -> str | None:
    """How the rep's task names the other record: full name, else email."""
    f = record.fields
    return " ".join(str(f[k]) for k in ("first_name", "last_name") if f.get(k)) or f.get("name") or f.get("email")


def queue_review(ctx: Batch, record: Record, other: Record, score: float, reasons: list[str],
                 field_written: bool = False) -> None:
    """A review item for an unsure pair, LeadRelay's duplicate-of field on the record (unless `field_written`: the
    capture job sets it when it creates the record) and a task for the manager."""
    reason = f"Possible duplicate of {other.id} (score {score:.2f}: {'; '.join(reasons[:4])})"
    item = ReviewItem(tenant_id=ctx.tenant_id, kind="dedup", object_type=record.object_type, object_id=record.id,
                      other_object_id=other.id, reason=reason[:500],
                      payload={"score": score, "reasons": reasons, "other": {"name": _name(other)}})
    ctx.session.add(item)
    try:  # the customer's views and workflows can pick the pair up from LeadRelay's own field
        if not field_written:
            ctx.adapter.set_fields(record.object_type, record.id, {"leadrelay_duplicate_of": other.id})
    except CRMValidationError as exc:
        log.warning("pipeline.fields-refused", extra={"tenant_id": ctx.tenant_id, "error": str(exc)})
    manager = next((o for o in ctx.rules.owners if o.manager and o.active), None)
    user = ctx.user_by_email(manager.email) if manager else None
    if user is not None and user.active:
        task_id = ctx.adapter.create_task(TaskSpec(
            subject="LeadRelay: possible duplicate to review", body=reason, owner_id=user.id,
            due_at=utcnow() + dt.timedelta(days=1), record_type=record.object_type, record_id=record.id, kind="todo",
            priority="medium"))
        item.payload = {**item.payload, "task_id": task_id}  # closed with a note when the item is resolved
