"""The flow of one lead after intake (DESIGN.md steps 2-7, 10): normalize → dedup → qualify → route → write.

Platform-neutral; every CRM call goes through the CRMAdapter. A lead is decided once: the route decision's
idempotency key makes a replayed webhook or a retried job change nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.crm.account_owners import account_owner, wants_account_owner
from integration.dedup.index import candidates, forget_record, index_record
from integration.dedup.tenant import Scoring, load_scoring
from integration.enrich import Enrichment, enrich
from integration.errors import CRMNotFound, CRMValidationError
from integration.followup.lifecycle import on_changed
from integration.models import Decision, ReviewItem
from integration.models.capture import ACCEPTED, IntakeSubmission
from integration.pipeline.duplicates import Merged, follow_merge, resolve_duplicates
from integration.pipeline.new_leads import routable
from integration.pipeline.writes import PendingOwner, flush_owners
from integration.protocols import CRMAdapter
from integration.records import CRMUser, Record
from integration.routing.normalize import Lead, normalize_lead, with_fields
from integration.routing.router import Router
from integration.routing.score import Scorer
from integration.work import Work, route_key, work_for

log = logging.getLogger("leadrelay.pipeline")
KEPT_TWINS_OWNER = "Duplicate"  # the route decision's rule when a new lead keeps the owner of the twin it merged



@dataclass
class Batch(Work):
    """One drain batch's Work, with what routing it needs: the rules compiled once into a router and a scorer, and
    the owners routed and not yet written (written together by `writes.flush_owners`)."""

    router: Router | None = None
    scorer: Scorer | None = None
    pending: list[PendingOwner] = field(default_factory=list)
    # the tenant's own dedup calibration (integration.dedup.tenant), read once per batch; None: the dev model
    dedup_scoring: Scoring | None = None


def process_records(session: Session, tenant_id: int, adapter: CRMAdapter, object_type: str,
                    records: list[Record], gone: list[str]) -> None:
    """Handle records that changed in the CRM (fetched in one batch) and ids that no longer exist."""
    for object_id in gone:
        forget_record(session, tenant_id, object_type, object_id)
    if not records:
        return
    ctx = _batch(session, tenant_id, adapter)
    routing = ctx.rules is not None and object_type == adapter.LEAD_OBJECT
    decisions = _route_decisions(ctx, records) if routing else {}
    # a record a web-form submission is creating or updating right now is the capture job's (it routes it)
    captured = captured_ids(session, tenant_id, [r.id for r in records]) if routing else set()
    undecided = [r for r in records if r.id not in decisions and r.id not in captured]
    new = routable(session, ctx.tenant, object_type, undecided) if routing else set()
    if routing:
        prefetch_companies(ctx, [r for r in records if r.id in new])
    for record in records:
        index_record(session, tenant_id, record)
        if not routing:
            continue
        try:
            decided = decisions.get(record.id)
            if decided is None and record.id in new:
                handle_lead(ctx, record)
                # kept now: a later record's CRM error rolls back its own work only, never this lead's decision
                # (a review, a merge), which the next event about it would otherwise make a second time
                ctx.session.commit()
            elif decided is not None and _unwritten(decided):
                _queue_write(ctx, record, decided)
        except (CRMValidationError, CRMNotFound) as exc:
            # the CRM refused this record's write: a human looks at it; the other records go on
            ctx.session.rollback()
            _review(ctx, record, "crm_error", f"{type(exc).__name__}: {exc}")
            ctx.session.commit()
    flush_owners(ctx)
    if ctx.rules is not None:
        on_changed(ctx, object_type, records)
    kept = sum(1 for r in undecided if r.id not in new) if routing else 0
    log.info("pipeline.processed", extra={"tenant_id": tenant_id, "records": len(records), "gone": len(gone),
                                          "kept_owner": kept})


def captured_ids(session: Session, tenant_id: int, ids: list[str]) -> set[str]:
    """Ids among `ids` that a submission still being processed names (it created or matched them)."""
    return set(session.scalars(select(IntakeSubmission.record_id).where(
        IntakeSubmission.tenant_id == tenant_id, IntakeSubmission.status == ACCEPTED,
        IntakeSubmission.record_id.in_(ids))))


def batch_for(session: Session, tenant_id: int, adapter: CRMAdapter) -> Batch:
    """A one-lead Batch for a job outside the drain (the capture job): the same router, scorer and writes."""
    return _batch(session, tenant_id, adapter)


def route_record(ctx: Batch, record: Record, key: str | None = None, flush: bool = True) -> str | None:
    """Route a record LeadRelay created (or a returning one without an active owner) the way `handle_lead` routes
    a new lead, minus the duplicate step its caller did, then write its owner and open its SLA task. `key`: the
    route decision's idempotency key when it is not the record's first (`route_key`). `flush=False` leaves the
    owner write queued in `ctx.pending` for one `flush_owners` of many records (a burst of submissions): the
    decision is committed either way. Returns the owner's email, None when the lead went to review."""
    key = key or route_key(record.object_type, record.id)
    decided = ctx.session.scalar(select(Decision).where(Decision.tenant_id == ctx.tenant_id,
                                                       Decision.idempotency_key == key))
    if decided is not None:  # a retried job: finish an interrupted owner write, never route again
        if _unwritten(decided):
            _queue_write(ctx, record, decided)
            if flush:
                flush_owners(ctx)
        return None if decided.outcome == "review" else decided.outcome
    raw = {**record.fields, "id": record.id, "created_at": record.created_at}
    found = enrich(raw)  # as handle_lead: routing sees the country, time zone and email type enrichment finds
    normalized = normalize_lead(found.lead_fields(raw), ctx.rules.source_labels)
    if normalized.unusable:
        _review(ctx, record, "validation", normalized.unusable)
        _decide(ctx, record, "route", "review", normalized.unusable[:1].upper() + normalized.unusable[1:],
                {"fields": _jsonable(raw)}, key)
        ctx.session.commit()
        return None
    _route(ctx, record, normalized.lead, enrichment_writes(ctx.adapter, record, found), key)
    if flush:
        flush_owners(ctx)
    decision = ctx.session.scalar(select(Decision).where(Decision.tenant_id == ctx.tenant_id,
                                                        Decision.idempotency_key == key))
    return None if decision is None or decision.outcome == "review" else decision.outcome


def _batch(session: Session, tenant_id: int, adapter: CRMAdapter) -> Batch:
    batch = work_for(session, tenant_id, adapter, kind=Batch)
    batch.dedup_scoring = load_scoring(session, tenant_id)
    if batch.rules is not None:
        batch.router = Router(batch.rules, batch.pool_state)
        batch.scorer = Scorer(batch.rules.scoring)
    return batch


def _route_decisions(ctx: Batch, records: list[Record]) -> dict[str, Decision]:
    """The batch's route decisions made before, by record id (one query for the batch)."""
    keys = {route_key(r.object_type, r.id): r.id for r in records}
    return {keys[d.idempotency_key]: d for d in ctx.session.scalars(select(Decision).where(
        Decision.tenant_id == ctx.tenant_id, Decision.idempotency_key.in_(list(keys))))}


def _unwritten(decision: Decision) -> bool:
    """Decided for an owner, but the job stopped before the CRM write was confirmed."""
    return bool(decision.inputs.get("owner_id")) and not decision.inputs.get("written_at")


def handle_lead(ctx: Batch, record: Record) -> None:
    """Normalize, dedup, qualify, route and write back one new lead; audit every decision."""
    raw = {**record.fields, "id": record.id, "created_at": record.created_at}
    # enriched before normalizing, so qualify and route see the country, time zone and email type it found
    # (Pipedrive persons have no country: an international number tells it)
    found = enrich(raw)
    normalized = normalize_lead(found.lead_fields(raw), ctx.rules.source_labels)
    if normalized.unusable:
        _review(ctx, record, "validation", normalized.unusable)
        _decide(ctx, record, "route", "review", normalized.unusable[:1].upper() + normalized.unusable[1:],
                {"fields": _jsonable(raw)})
        return
    enriched = enrichment_writes(ctx.adapter, record, found)
    lead = normalized.lead
    indexed = candidates(ctx.session, ctx.tenant_id, record)
    if any((p.record.object_type, p.record.id) in indexed for p in ctx.pending):
        flush_owners(ctx)  # a duplicate within the batch: its twin's owner is written before the pair is scored
    merged = resolve_duplicates(ctx, record, indexed)
    if merged is None:
        _route(ctx, record, lead, enriched)
    elif merged.new_lead_survived:
        # the merged record is the one LeadRelay decides for, under the id it lives under (HubSpot: a new one)
        survivor = dataclasses.replace(record, id=merged.survivor_id)
        try:
            if email := ctx.email_of(merged.owner_id):
                _keep_twins_owner(ctx, dataclasses.replace(survivor, owner_id=None), merged, email)
            else:
                _route(ctx, survivor, lead, enriched)
        finally:  # after the lead's own decision: the twin's moves to the merged record and keeps its own key
            follow_merge(ctx, record.object_type, merged)
    # else: a sure duplicate of a record that stays with its owner (duplicates.py moved what LeadRelay keeps)


def enrichment_writes(adapter: CRMAdapter, record: Record, found: Enrichment) -> dict:
    """What the owner write adds for enrichment: LeadRelay's three fields, and the address fields the record has
    left blank where the lead object has them (never a value someone typed; none for an adapter that does not
    declare them, as the test doubles)."""
    blanks = {k: v for k, v in found.filled.items()
              if k in getattr(adapter, "ADDRESS_FIELDS", ()) and record.fields.get(k) in (None, "")}
    return {**blanks, **found.crm_fields()}


def _route(ctx: Batch, record: Record, lead: Lead, enriched: dict | None = None,
           key: str | None = None) -> None:
    """Qualify and route one lead, then write its owner (or send it to review)."""
    lead = with_fields(lead, account_owner=account_owner(ctx, lead))
    qualification = ctx.scorer.score_lead(lead)
    decision = ctx.router.route_lead(lead, qualification, at=dt.datetime.now(dt.UTC), explain=True)
    # the route taken and not taken, for the audit page: each rule up to the match, and who the target passed over
    inputs = {"score": qualification.score, "tier": qualification.tier, "rule": decision.rule,
              "qualification": qualification.reason, "lead": _jsonable(lead.__dict__),
              "path": [step.as_dict() for step in decision.path],
              "skipped": [skip.as_dict() for skip in decision.skipped]}
    if enriched:
        inputs["enriched"] = enriched  # written with the owner (writes.own_fields), also by a retried drain
    if decision.review:
        _review(ctx, record, "routing", decision.reason)
        _decide(ctx, record, "route", "review", decision.reason, inputs, key)
        return
    _assign_owner(ctx, record, decision.owner, decision.reason, inputs, key)


def _keep_twins_owner(ctx: Batch, survivor: Record, merged: Merged, email: str) -> None:
    """The new lead survived a merge with an owned record (e.g. `keep: most_complete`): it keeps that owner, with
    no new routing (no pool turn) and no new SLA task, as when the older record survives."""
    reason = f"Duplicate merged into this lead: stays with its owner {email}"
    decision = _decide(ctx, survivor, "route", email, reason,
                       {"owner_id": merged.owner_id, "rule": KEPT_TWINS_OWNER, "sla_task": False})
    ctx.session.commit()
    _queue_write(ctx, survivor, decision)


def _assign_owner(ctx: Batch, record: Record, email: str, reason: str, inputs: dict, key: str | None = None) -> None:
    """Decide for the routed owner (or review, when they are no active CRM user) and queue the owner write."""
    user = ctx.user_by_email(email)
    if user is None or not user.active:
        why = f"{reason}; but {email} is not an active user in the CRM"
        _review(ctx, record, "routing", why)
        _decide(ctx, record, "route", "review", why, inputs, key)
        return
    # the decision is stored before the write: a crash between the two is retried by the job, and the
    # write itself is idempotent (setting the same owner again changes nothing)
    decision = _decide(ctx, record, "route", email, reason, {**inputs, "owner_id": user.id}, key)
    # The decision is committed before the CRM write: a retried job finishes this write instead of routing
    # the lead again (which would advance the round-robin and could pick someone else).
    ctx.session.commit()
    _queue_write(ctx, record, decision, user)


def _queue_write(ctx: Batch, record: Record, decision: Decision, user: CRMUser | None = None) -> None:
    """Queue the owner write (with LeadRelay's fields) for the batch; flush_owners writes it, then the task."""
    owner_id = decision.inputs["owner_id"]
    user = user or next((u for u in ctx.users() if u.id == owner_id), None)
    # read from the decision, so a retried drain finishing an interrupted write opens no clock the first did not
    # (decisions from before the flag: the twin's-owner rule is the one that opens none)
    sla_task = decision.inputs.get("sla_task", decision.inputs.get("rule") != KEPT_TWINS_OWNER)
    ctx.pending.append(PendingOwner(record, decision, user, sla_task=sla_task))


def prefetch_companies(ctx: Batch, undecided: list[Record]) -> None:
    """The companies of the batch's new leads' email domains in one CRM call, when a rule asks for the account
    owner (a burst of leads must not cost a company search each: HubSpot allows four searches a second)."""
    if wants_account_owner(ctx.rules.routing):
        ctx.accounts.prefetch([r.fields.get("email") for r in undecided])


def _review(ctx: Batch, record: Record, kind: str, reason: str, other: str | None = None) -> None:
    ctx.session.add(ReviewItem(tenant_id=ctx.tenant_id, kind=kind, object_type=record.object_type,
                               object_id=record.id, other_object_id=other, reason=reason[:500]))


def _decide(ctx: Batch, record: Record, kind: str, outcome: str, reason: str, inputs: dict,
            key: str | None = None) -> Decision:
    key = key or route_key(record.object_type, record.id)
    decision = Decision(tenant_id=ctx.tenant_id, idempotency_key=key, kind=kind, object_type=record.object_type,
                        object_id=record.id, outcome=outcome[:200], reason=reason[:500], inputs=inputs)
    ctx.session.add(decision)
    return decision


def _jsonable(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()
            if isinstance(v, str | int | float | bool | dt.datetime) or v is None}
