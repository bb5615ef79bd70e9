"""Pipeline step 7, in batches: the owners of the leads routed in one drain batch, with LeadRelay's fields, in as
few CRM calls as the platform allows (`set_owners`), then their SLA tasks (`create_tasks`).

Every route decision is committed before its write (see flow._assign_owner), so a write that fails with a
rate limit or an outage is finished by the retried drain, never routed again.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integration.crm.batch_writes import STOPS_THE_REST
from integration.errors import CRMNotFound, CRMRecordRefused, CRMValidationError
from integration.followup.routed import on_routed_many
from integration.models import Decision, ReviewItem
from integration.outreach import hooks
from integration.records import CRMUser, OwnerWrite, Record

if TYPE_CHECKING:
    from integration.pipeline.flow import Batch

log = logging.getLogger("leadrelay.pipeline.writes")
REFUSED = (CRMValidationError, CRMNotFound)


@dataclass
class PendingOwner:
    """A lead whose route decision is committed and whose owner is not written yet."""

    record: Record
    decision: Decision
    owner: CRMUser | None  # None: the owner is no CRM user we know (any more): the write goes on, no task
    sla_task: bool = True  # False: the lead keeps an owner it already had (its merged twin's): no new SLA clock

    @property
    def owner_id(self) -> str:
        return self.decision.inputs["owner_id"]


def own_fields(decision: Decision) -> dict:
    """LeadRelay's fields for the customer's workflows and reports, written with the owner; with them what
    enrichment filled (blank address fields, leadrelay_enriched / _email_type / _timezone): still one CRM call."""
    fields = {"leadrelay_score": decision.inputs.get("score"), "leadrelay_tier": decision.inputs.get("tier"),
              "leadrelay_rule": decision.inputs.get("rule"), "leadrelay_reason": (decision.reason or "")[:255]}
    return {**(decision.inputs.get("enriched") or {}), **{k: v for k, v in fields.items() if v is not None}}


def flush_owners(ctx: Batch) -> None:
    """Write every pending owner (one batch per object type), then open the SLA tasks of those written.

    A record the CRM refused in the batch is written alone (its fields dropped if they are what the CRM
    refuses); one it refuses even then goes to review. A rate limit or an outage is raised after the records
    that were written got their tasks: the drain retries the rest.
    """
    pending, ctx.pending = ctx.pending, []
    if not pending:
        return
    missing = _fields_missing(ctx)
    if missing:  # the install found LeadRelay's fields missing (Salesforce package): the owner alone, noted
        for item in pending:
            item.decision.inputs = {**item.decision.inputs, "fields_error": missing[:500]}
    failures: dict[str, Exception] = {}
    for object_type in dict.fromkeys(p.record.object_type for p in pending):
        batch = [p for p in pending if p.record.object_type == object_type]
        failures.update(ctx.adapter.set_owners(object_type, [
            OwnerWrite(p.record.id, p.owner_id, {} if missing else own_fields(p.decision)) for p in batch]))
    written, retry = [], None
    for item in pending:
        error = failures.get(item.record.id)
        if isinstance(error, REFUSED):
            error = _write_alone(ctx, item)
        if error is None:
            _mark_written(item)
            written.append(item)
        elif not isinstance(error, REFUSED):
            retry = retry or error  # a rate limit or an outage: the drain finishes this write later
    ctx.session.commit()
    on_routed_many(ctx, [(p.record, p.owner, p.decision, p.decision.inputs.get("tier") or "nurture",
                          p.decision.reason) for p in written if p.sla_task and p.owner is not None])
    hooks.on_owners_written(ctx, [(p.record, p.owner, p.decision) for p in written if p.sla_task])
    if retry is not None:
        raise retry


def _fields_missing(ctx: Batch) -> str | None:
    """Why LeadRelay's fields can't be written, when the install's check found them missing (else None: written,
    and a refusal falls back to the owner alone). Sending them anyway would cost two refused calls per lead."""
    state = (ctx.tenant.settings or {}).get("leadrelay_fields") or {}
    return (state.get("error") or "LeadRelay's fields are missing") if state.get("ready") is False else None


def _write_alone(ctx: Batch, item: PendingOwner) -> Exception | None:
    """One record the batch write refused: with its fields, else the owner alone; None when written.

    A record the CRM refuses even alone goes to review (the error is returned); a rate limit or an outage is
    returned for the drain to retry.
    """
    record = item.record
    try:
        try:
            ctx.adapter.set_owner(record.object_type, record.id, item.owner_id, own_fields(item.decision))
        except CRMRecordRefused:
            raise  # the record itself is refused (e.g. the CRM's duplicate rules): the owner alone would be too
        except CRMValidationError as exc:
            # the fields are refused (e.g. the Salesforce package is not installed): the owner alone, noted; a
            # refusal of the fields never undoes the routing
            log.warning("pipeline.fields-refused", extra={"tenant_id": ctx.tenant_id, "error": str(exc)})
            item.decision.inputs = {**item.decision.inputs, "fields_error": str(exc)[:500]}
            if record.owner_id != item.owner_id:
                ctx.adapter.set_owner(record.object_type, record.id, item.owner_id)
    except REFUSED as exc:
        _park(ctx, record, f"{type(exc).__name__}: {exc}")
        return exc
    except STOPS_THE_REST as exc:
        return exc
    return None


def _park(ctx: Batch, record: Record, reason: str) -> None:
    """A review item with the CRM's refusal; one open item per record, however often a later change of the record
    brings the write back and the CRM refuses it again (its reason is the latest refusal)."""
    item = ctx.session.scalar(ReviewItem.for_tenant(ctx.tenant_id).where(
        ReviewItem.kind == "crm_error", ReviewItem.status == "open", ReviewItem.object_type == record.object_type,
        ReviewItem.object_id == record.id))
    if item is None:
        item = ReviewItem(tenant_id=ctx.tenant_id, kind="crm_error", object_type=record.object_type,
                          object_id=record.id)
        ctx.session.add(item)
    item.reason = reason[:500]


def _mark_written(item: PendingOwner) -> None:
    """When the owner was written, for speed-to-owner (the CRM's created time → this moment)."""
    created = item.record.created_at
    item.decision.inputs = {**item.decision.inputs, "written_at": dt.datetime.now(dt.UTC).isoformat(),
                            "crm_created_at": created.isoformat() if created else None}
