"""Lifecycle consistency (RULES.md `lifecycle`): a deal's state moves its contacts' lifecycle stage, forward only.

A deal that changed (webhook or sweep) is matched against `lifecycle.rules` by its status (open / won / lost);
the rule's stage is written on each of the deal's contacts unless that would move the contact backwards in
`lifecycle.stages` while `forward_only` holds, which is refused and audited instead. With `forward_only`, a
contact moved back in the CRM from a stage LeadRelay set is put back, also audited. Every outcome is a Decision
(kind "lifecycle") under a deterministic key, and each step first reads the CRM's current stage, so a replayed
webhook or a retried job changes nothing; our own writes come back as echoes the write log drops.
"""
from __future__ import annotations

from sqlalchemy import select

from integration.errors import CRMValidationError
from integration.followup import conversions
from integration.followup.cadences import stop_cadence
from integration.models import Decision
from integration.records import ObjectType, Record
from integration.rules.policies import Lifecycle
from integration.work import Work

KIND = "lifecycle"
FIELD = "lifecycle_stage"  # native (HubSpot); an adapter without one names its own: LIFECYCLE_FIELD
PEOPLE = (ObjectType.CONTACT, ObjectType.LEAD)
KEPT = ("set", "restored")  # outcomes after which the contact holds the stage in inputs["to"]


def on_changed(ctx: Work, object_type: str, records: list[Record]) -> None:
    """Called for every batch of changed records of a tenant with published rules."""
    lifecycle = ctx.rules.lifecycle
    if object_type == ObjectType.DEAL:
        _stop_cadences_for_deals(ctx, records)
        for deal in records:  # lead → deal / won for the KPIs, whatever the lifecycle rules say
            conversions.for_deal(ctx.session, ctx.tenant_id, deal)
    if object_type == ObjectType.DEAL and lifecycle.rules:
        stages: dict[str, str | None] = {}  # contact id -> stage as of our last write in this batch
        for deal in records:
            apply_deal(ctx, lifecycle, deal, stages)
    elif object_type in PEOPLE and lifecycle.forward_only:
        guard_people(ctx, lifecycle, object_type, records)


def _stop_cadences_for_deals(ctx: Work, deals: list[Record]) -> None:
    """A deal for a lead is engagement: its follow-up cadence stops (RULES.md cadences.pause_on deal_created)."""

    for deal in deals:
        for contact_id in deal.contact_ids:
            stop_cadence(ctx.session, ctx.tenant_id, ctx.adapter.LEAD_OBJECT, contact_id, f"deal {deal.id} created")


def field_of(ctx: Work) -> str:
    """The neutral field holding the stage: lifecycle_stage, or LeadRelay's own leadrelay_lifecycle."""
    return getattr(ctx.adapter, "LIFECYCLE_FIELD", FIELD)


def rank(lifecycle: Lifecycle, stage: str | None) -> int:
    """The stage's place in `lifecycle.stages`; -1 for an empty or unlisted stage (it never blocks a move)."""
    return lifecycle.stages.index(stage) if stage in lifecycle.stages else -1


def apply_deal(ctx: Work, lifecycle: Lifecycle, deal: Record, stages: dict[str, str | None]) -> None:
    """Apply the first rule for the deal's status to each of its contacts."""
    status = deal.fields.get("deal_status")
    rule = next((r for r in lifecycle.rules if r.when.deal == status), None)
    if rule is None or not deal.contact_ids:
        return
    contacts = ctx.adapter.get_records(ObjectType.CONTACT, list(deal.contact_ids))
    for contact in contacts:
        current = stages[contact.id] if contact.id in stages else contact.fields.get(field_of(ctx))
        stages[contact.id] = _move(ctx, lifecycle, deal, contact, current, rule.set)


def _move(ctx: Work, lifecycle: Lifecycle, deal: Record, contact: Record, current: str | None,
          target: str) -> str | None:
    """Write `target` on the contact, refuse it, or skip it; returns the contact's stage afterwards."""
    status = deal.fields.get("deal_status")
    inputs = {"deal_id": deal.id, "deal_status": status, "from": current, "to": target}
    if current == target:
        return current
    base = f"{KIND}:{contact.object_type}:{contact.id}"
    if target not in lifecycle.stages:
        _audit(ctx, contact, f"{base}:unlisted:{target}", "skipped", inputs,
               f"Skipped: rule 'deal {status} → {target}' names a stage missing from lifecycle.stages")
        return current
    if lifecycle.forward_only and rank(lifecycle, target) < rank(lifecycle, current):
        _audit(ctx, contact, f"{base}:refused:{current}->{target}:deal:{deal.id}:{status}", "refused", inputs,
               f"Refused: deal {deal.id} is {status} (rule → {target}), but the contact is at {current}; "
               f"lifecycle is forward-only")
        return current
    try:
        ctx.adapter.set_fields(contact.object_type, contact.id, {field_of(ctx): target})
    except CRMValidationError as exc:
        _audit(ctx, contact, f"{base}:skipped:{target}", "skipped", inputs,
               f"Skipped: {ctx.adapter.PLATFORM} {contact.object_type}s have no lifecycle stage field ({exc})")
        return current
    _audit(ctx, contact, f"{base}:set:{current or '-'}->{target}:deal:{deal.id}", "set", inputs,
           f"Deal {deal.id} is {status}: lifecycle stage {current or '(empty)'} → {target}")
    return target


def guard_people(ctx: Work, lifecycle: Lifecycle, object_type: str, records: list[Record]) -> None:
    """Put back a stage LeadRelay set when someone moved the record to an earlier stage (forward-only)."""
    name = field_of(ctx)
    held = _stages_held(ctx, lifecycle, object_type, [r.id for r in records if r.fields.get(name)])
    for record in records:
        ours, current = held.get(record.id), record.fields.get(name)
        if ours is None or current not in lifecycle.stages or rank(lifecycle, current) >= rank(lifecycle, ours):
            continue
        moment = record.updated_at.isoformat() if record.updated_at else "-"
        key = f"{KIND}:{object_type}:{record.id}:restore:{current}->{ours}:{moment}"
        if _exists(ctx, key):
            continue
        ctx.adapter.set_fields(object_type, record.id, {name: ours})
        _audit(ctx, record, key, "restored", {"from": current, "to": ours},
               f"Refused a move back from {ours} to {current} (lifecycle is forward-only); {ours} restored")


def _stages_held(ctx: Work, lifecycle: Lifecycle, object_type: str, ids: list[str]) -> dict[str, str]:
    """Per record, the furthest stage LeadRelay set (or restored) on it."""
    if not ids:
        return {}
    rows = ctx.session.execute(select(Decision.object_id, Decision.inputs).where(
        Decision.tenant_id == ctx.tenant_id, Decision.kind == KIND, Decision.object_type == object_type,
        Decision.object_id.in_(ids), Decision.outcome.in_(KEPT))).all()
    held: dict[str, str] = {}
    for object_id, inputs in rows:
        stage = (inputs or {}).get("to")
        if rank(lifecycle, stage) > rank(lifecycle, held.get(object_id)):
            held[object_id] = stage
    return held


def _exists(ctx: Work, key: str) -> bool:
    return ctx.session.scalar(select(Decision.id).where(Decision.tenant_id == ctx.tenant_id,
                                                        Decision.idempotency_key == key[:200])) is not None


def _audit(ctx: Work, record: Record, key: str, outcome: str, inputs: dict, reason: str) -> None:
    """One Decision per key: a replay or retry of the same step adds nothing."""
    if _exists(ctx, key):
        return
    ctx.session.add(Decision(tenant_id=ctx.tenant_id, idempotency_key=key[:200], kind=KIND,
                             object_type=record.object_type, object_id=record.id, outcome=outcome,
                             reason=reason[:500], inputs=inputs))
    ctx.session.flush()
