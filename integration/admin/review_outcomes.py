"""What a resolution in the review queue writes back to the CRM, as the pipeline would have (issue 13).

- Merge and "not a duplicate": LeadRelay's duplicate-of field (set by pipeline.duplicates when it queued the pair) is
  cleared on the record that lives on.
- Every resolution: the admin's "possible duplicate" task (its id kept in the item's payload) is closed with a note
  saying who resolved it and how.
- Assign by hand: the owner with LeadRelay's fields in the same write (pipeline.writes.own_fields), the new owner's
  SLA task (sla.open_timer, keyed like the pipeline's, so one per lead and tier) and its check.

Every step asks the CRM (or its key) first, so a step that ran before changes nothing: a resolution stopped by a
rate limit or an outage is finished by pressing the button again. A value the CRM refuses (a field that is not
installed, a task it will not take) is noted, never a failure of the whole resolution.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from integration.errors import CRMNotFound, CRMValidationError
from integration.followup.common import lead_facts
from integration.followup.sla import open_timer
from integration.models import Decision, ReviewItem
from integration.pipeline.writes import own_fields
from integration.protocols import CRMAdapter
from integration.records import CRMUser
from integration.rules.model import RuleSet
from integration.work import Work

log = logging.getLogger("leadrelay.review")
DUPLICATE_OF = "leadrelay_duplicate_of"
REFUSED = (CRMValidationError, CRMNotFound)


@dataclass
class Written:
    """What a resolution wrote besides the item itself, for its audit entry (and what the CRM refused)."""

    inputs: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def refused(self, what: str, exc: Exception) -> None:
        self.notes.append(f"{what}: {exc}"[:300])


def clear_duplicate_of(adapter: CRMAdapter, object_type: str, record_id: str, pointing_at: Iterable[str],
                       written: Written) -> None:
    """Empty the record's duplicate-of field when it names one of these ids (not a pair queued since)."""
    record = adapter.get_record(object_type, record_id)
    if record is None or str(record.fields.get(DUPLICATE_OF) or "") not in {str(i) for i in pointing_at}:
        return
    try:
        adapter.set_fields(object_type, record_id, {DUPLICATE_OF: None})
        written.inputs["duplicate_of_cleared"] = record_id
    except REFUSED as exc:
        log.warning("review.fields-refused", extra={"object_id": record_id, "error": str(exc)})
        written.refused(f"{DUPLICATE_OF} left on {record_id}", exc)


def close_review_task(adapter: CRMAdapter, item: ReviewItem, note: str, written: Written) -> None:
    """Close the admin's task of the item with a note; one closed already (by us or in the CRM) is left as it is."""
    task_id = (item.payload or {}).get("task_id")
    if not task_id:
        return
    try:
        task = adapter.get_task(task_id)
        if task is not None and not task.done:
            adapter.complete_task(task_id, note=note)
    except REFUSED as exc:
        written.refused(f"task {task_id} left open", exc)
        return
    written.inputs["task_closed"] = task_id


@dataclass
class HandAssignment:
    """A lead an admin assigns by hand from the review queue."""

    item: ReviewItem
    owner: CRMUser
    decision: Decision  # the review decision (not added yet): reason and inputs (score, tier, rule "manual")
    route: Decision | None  # the pipeline's route decision that sent the lead to review, when there is one


def assign_by_hand(session: Session, adapter: CRMAdapter, rules: RuleSet | None, users: Callable[[], list[CRMUser]],
                   job: HandAssignment, note: str) -> Written:
    """Owner and LeadRelay's fields, the new owner's SLA task, the admin's task closed: what routing would do."""
    item, owner, written = job.item, job.owner, Written()
    record = adapter.get_record(item.object_type, item.object_id)
    if record is None:
        raise CRMNotFound(f"{item.object_type} {item.object_id} is gone from the CRM")
    try:
        adapter.set_owner(item.object_type, item.object_id, owner.id, own_fields(job.decision))
    except CRMValidationError as exc:  # LeadRelay's fields are refused (not installed): the owner alone, noted
        written.refused("LeadRelay's fields not written", exc)
        adapter.set_owner(item.object_type, item.object_id, owner.id)
    if rules is None:
        written.notes.append("no SLA task: the tenant has no published rule set")
    else:
        tier = job.decision.inputs.get("tier") or "nurture"
        lead = lead_facts(job.route.inputs if job.route else {}) or {"id": record.id, **record.fields}
        work = Work(session, item.tenant_id, adapter, rules, users)
        try:
            timer = open_timer(work, item.object_type, item.object_id, owner, tier, lead, job.decision.reason,
                               why="an admin chose you for it by hand in LeadRelay's review queue.")
        except CRMValidationError as exc:  # as after routing (followup): a human looks at it, the owner stays
            written.refused("the CRM refused the SLA task", exc)
            session.add(ReviewItem(tenant_id=item.tenant_id, kind="crm_error", object_type=item.object_type,
                                   object_id=item.object_id,
                                   reason=f"The CRM refused the SLA task: {type(exc).__name__}: {exc}"[:500]))
            timer = None
        if timer is not None:
            written.inputs.update(sla_task=timer.task_id, sla_due_at=timer.due_at.isoformat())
    close_review_task(adapter, item, note, written)
    return written
