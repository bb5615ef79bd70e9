"""Web-form submissions, after the intake endpoint stored them: the `process_submission` job looks the person up
before any record exists (the dedup index first, then the CRM), creates or updates the record, enriches, routes.

The web layer (marketplace/intake_api.py) only validates, stores an IntakeSubmission and calls
`enqueue_submission`; everything that talks to the CRM happens here, on the intake queue.

RQ delivers at least once and a CRM 429/5xx makes the job run again (retries with backoff), so every step is
kept where a retry finds it: the record's id is stored on the submission in the same transaction as the capture
decision, before any other CRM call, and each later step (note, blanks filled, task, route) is noted in that
decision's inputs once done. A retry never creates a second record and never writes a step twice.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.dedup import classify, score_pair
from integration.dedup.index import candidates, email_key, index_record, phone_key
from integration.enrich import enrich
from integration.errors import CRMConflict, CRMNotFound, CRMRecordRefused, CRMValidationError
from integration.intake.capture import (
    as_record,
    blanks_to_fill,
    for_create,
    lock_keys,
    note_text,
    person_lock,
    person_name,
    submitted,
    with_id,
)
from integration.jobs import job
from integration.models import Decision, ReviewItem, Tenant, TenantStatus, utcnow
from integration.models.capture import ACCEPTED, CREATED, FAILED, REVIEW, UPDATED, IntakeSubmission
from integration.pipeline.duplicates import as_dict, candidate_records, queue_review
from integration.pipeline.flow import Batch, batch_for, route_record
from integration.queues import INTAKE
from integration.records import Record, TaskSpec
from integration.rules.policies import Dedup

log = logging.getLogger("leadrelay.intake.submissions")
REFUSED = (CRMValidationError, CRMNotFound)  # the CRM will say the same again: no retry
CAME_BACK_DUE = dt.timedelta(hours=1)  # a person who writes again is warm: the owner is asked to call soon


@job(INTAKE, name="process_submission", timeout=120)
def process_submission(tenant_id: int, submission_id: int) -> str:
    """Dedup before create, then create or update the CRM record, enrich, route; returns the submission's status."""
    with session_scope(get_settings().database_url) as session:
        sub = IntakeSubmission.get_for_tenant(session, submission_id, tenant_id)
        if sub is None:
            return "missing"
        if sub.status != ACCEPTED:
            return sub.status  # done before: a re-delivered job changes nothing
        ctx = batch_for(session, tenant_id, adapter_for(tenant_id))
        try:
            return Capture(ctx, sub).run()
        except Exception as exc:
            if _last_attempt():
                _give_up(tenant_id, submission_id, exc)
            raise


def _last_attempt() -> bool:
    """This run is a worker's last attempt at the job (no retry left): a failure now is final. Called directly (a
    test, a console action), the caller decides."""
    current = get_current_job()
    return current is not None and not (current.retries_left or 0)


def _give_up(tenant_id: int, submission_id: int, exc: Exception) -> None:
    """Every retry failed (an outage longer than the backoff, an unexpected error): the submission says so, with the
    reason, instead of staying "accepted" for ever; nothing is lost (its fields stay, a worker start re-queues only
    accepted ones, an admin can see it failed)."""
    reason = f"{type(exc).__name__}: {exc}"[:500]
    with session_scope(get_settings().database_url) as session:
        sub = IntakeSubmission.get_for_tenant(session, submission_id, tenant_id)
        if sub is not None and sub.status == ACCEPTED:
            sub.status, sub.error, sub.processed_at = FAILED, f"gave up after every retry: {reason}"[:500], utcnow()
    log.error("capture.gave-up", extra={"tenant_id": tenant_id, "submission_id": submission_id,
                                        "error": type(exc).__name__})


def enqueue_submission(tenant_id: int, submission_id: int) -> None:
    """Queue the work for one stored submission (the job id makes a repeat enqueue a no-op while it waits)."""
    process_submission.enqueue(tenant_id, submission_id, job_id=f"submission-{tenant_id}-{submission_id}")


class PersonNotSearchableYet(Exception):
    """The CRM refused the create as a duplicate of a record its search does not show yet: this job is retried."""


class TwinInProgress(Exception):
    """The matched record is being created and routed by a twin submission's job: this one is retried."""


def capture_key(sub: IntakeSubmission) -> str:
    return f"capture:{sub.id}"


class Capture:
    """One submission's work, step by step (see the module's docstring for what makes it safe to retry)."""

    def __init__(self, ctx: Batch, sub: IntakeSubmission) -> None:
        self.ctx, self.sub = ctx, sub
        self.session: Session = ctx.session
        self.adapter = ctx.adapter
        self.object_type = ctx.adapter.LEAD_OBJECT
        self.values = submitted(sub.fields or {})
        self.writable = frozenset(ctx.adapter.writable_fields(self.object_type))
        self.decision = self.session.scalar(select(Decision).where(
            Decision.tenant_id == ctx.tenant_id, Decision.idempotency_key == capture_key(sub)))

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.decision.inputs or {}) if self.decision is not None else {}

    def note(self, **changes: Any) -> None:
        """Keep a finished step in the decision's inputs, committed: a retry skips it."""
        self.decision.inputs = {**self.inputs, **changes}
        self.session.commit()

    # the job ----------------------------------------------------------------------------------
    def run(self) -> str:
        if not self.values.get("email") and not self.values.get("phone"):
            return self.fail("no email and no phone to reach the person by")
        if self.decision is None:
            try:
                with person_lock(self.ctx.redis, lock_keys(self.ctx.tenant_id, self.values)):
                    self.look_up_and_write()
            except CRMConflict as exc:
                # a unique value (HubSpot: the email) is another record's, which neither the index nor the CRM's
                # lagging search knew: made in the CRM a moment ago. Retried (RQ backoff), the search sees it
                # then and the submission updates that record instead of failing
                self.session.rollback()
                raise PersonNotSearchableYet(str(exc)) from exc
            except REFUSED as exc:
                self.session.rollback()
                return self.fail(f"the CRM refused the new record: {exc}")
            if self.decision is None:
                return self.sub.status
        verdict = self.inputs["verdict"]
        if verdict == "merge":
            return self.came_back()
        return self.created(review=verdict == "review")

    def look_up_and_write(self) -> None:
        """Under the person's lock: the index (fresh), then the CRM; a sure match names the record, anything else
        creates one. The record's id, the decision and the index keys are committed before the lock is let go, so
        a twin submission waiting on the lock finds this record in the index."""
        probe = as_record(self.object_type, f"submission-{self.sub.id}", self.values)
        indexed = candidates(self.session, self.ctx.tenant_id, probe)
        found = candidate_records(self.ctx, probe, indexed)
        policy = self.ctx.rules.dedup if self.ctx.rules is not None else Dedup()
        scored = sorted(((score_pair(as_dict(probe), as_dict(c)), c) for c in found),
                        key=lambda pair: pair[0].score, reverse=True)
        verdict, best, result = "distinct", None, None
        if scored:
            result, best = scored[0]
            verdict = classify(result.score, policy.auto_merge, policy.review)
        match = {"score": round(result.score, 4), "reasons": result.reasons[:6], "other": best.id,
                 "other_name": person_name(best.fields), "via": _matched_on(self.values, best)} if best else {}
        if verdict == "merge":
            self.remember(best.id, "merge", match, {"owner_id": best.owner_id})
            self.matched = best
            return
        enrichment = enrich(dict(self.sub.fields or {}))
        fields, unplaced = for_create(self.values, enrichment, self.writable, self.object_type)
        if verdict == "review" and "leadrelay_duplicate_of" in self.writable:
            fields["leadrelay_duplicate_of"] = best.id
        record_id, fields, unplaced = self.create(fields, unplaced)
        # from here the record exists: its id is kept with the decision before anything else can fail
        self.remember(record_id, verdict, match, {"fields": _jsonable(fields), "unplaced": _jsonable(unplaced)})
        index_record(self.session, self.ctx.tenant_id, as_record(self.object_type, record_id, fields))
        self.session.commit()

    def create(self, fields: dict, unplaced: dict) -> tuple[str, dict, dict]:
        """The new record; LeadRelay's own fields go into the note instead when the CRM lacks them (the install
        found them missing, or the CRM refuses them): they never cost the person their record."""
        own = {k: v for k, v in fields.items() if k.startswith("leadrelay_")}
        state = ((self.ctx.tenant.settings or {}) if self.ctx.tenant else {}).get("leadrelay_fields") or {}
        if own and state.get("ready") is False:
            fields, unplaced = _without(fields, own), {**unplaced, **own}
        try:
            return self.adapter.create_record(self.object_type, fields, None), fields, unplaced
        except CRMRecordRefused:
            raise  # the record itself is refused (a duplicate rule): without our fields it would be too
        except CRMValidationError as exc:
            if not own or not set(own) & set(fields):
                raise
            log.warning("capture.fields-refused", extra={"tenant_id": self.ctx.tenant_id, "error": str(exc)})
            fields, unplaced = _without(fields, own), {**unplaced, **own}
            return self.adapter.create_record(self.object_type, fields, None), fields, unplaced

    def remember(self, record_id: str, verdict: str, match: dict, more: dict) -> None:
        sub = self.sub
        sub.object_type, sub.record_id = self.object_type, record_id
        sub.record_url = self.adapter.record_url(self.object_type, record_id)
        self.decision = Decision(
            tenant_id=self.ctx.tenant_id, idempotency_key=capture_key(sub), kind="capture",
            object_type=self.object_type, object_id=record_id, outcome="in progress",
            reason="Web form submission being processed",
            inputs={"submission": sub.public_id, "verdict": verdict, "page_url": sub.fields.get("page_url"),
                    **({"match": match} if match else {}), **more})
        self.session.add(self.decision)
        self.session.commit()

    # a new record -----------------------------------------------------------------------------
    def created(self, review: bool) -> str:
        inputs = self.inputs
        record_id = self.sub.record_id
        # routed on everything the person gave, also what the CRM has no field for (a Pipedrive person's state)
        record = Record(self.object_type, record_id, fields={**self.values, **(inputs.get("fields") or {})},
                        created_at=self.decision.created_at)
        self.add_note(record_id, inputs.get("unplaced") or {}, returning=False)
        if review and "reviewed" not in inputs and self.ctx.rules is not None:
            match = inputs["match"]
            other = Record(self.object_type, match["other"], fields={"first_name": match.get("other_name")})
            queue_review(self.ctx, record, other, match["score"], match["reasons"],
                         field_written="leadrelay_duplicate_of" in (inputs.get("fields") or {}))
            self.note(reviewed=True)
        owner = route_record(self.ctx, record) if self.ctx.rules is not None else None
        page = self.sub.fields.get("page_url") or "no page given"
        who = self.owner_name(owner)
        routed = f"routed to {who}" if who else "waiting in review for an owner"
        reason = f"New lead from the web form (page {page}): created, {routed}"
        if review:
            reason += f"; possible duplicate of {inputs['match']['other_name']}, sent to review"
        return self.finish(REVIEW if review else CREATED, reason)

    # a person the CRM already has -------------------------------------------------------------
    def came_back(self) -> str:
        inputs = self.inputs
        record = getattr(self, "matched", None) or self.adapter.get_record(self.object_type, self.sub.record_id)
        if record is None:
            return self.fail("the matched record no longer exists in the CRM")
        record = with_id(record, self.sub.record_id)
        if "filled" not in inputs:
            enrichment = enrich(dict(self.sub.fields or {}))
            offered = {**{k: v for k, v in enrichment.filled.items() if v not in (None, "")}, **self.values}
            blanks = blanks_to_fill(record, offered, self.writable)
            if blanks:
                self.adapter.set_fields(self.object_type, record.id, blanks)
                index_record(self.session, self.ctx.tenant_id, Record(
                    record.object_type, record.id, {**record.fields, **blanks}, owner_id=record.owner_id,
                    extra_emails=record.extra_emails, extra_phones=record.extra_phones))
            self.note(filled=sorted(blanks))
        unplaced = {k: v for k, v in self.values.items() if k not in self.writable}
        self.add_note(record.id, unplaced, returning=True)
        twins = self.twin_captures(record.id)
        if "in progress" in twins:
            # the record is a twin submission's, created a moment ago and not routed yet (Salesforce and Pipedrive
            # give a new record the API user as owner until then): its routed owner is the one to tell, so RQ runs
            # this job again after its backoff
            raise TwinInProgress(f"submission twin of {record.id} still being routed")
        if twins and getattr(self, "matched", None) is not None:  # read before the twin's owner write: again
            record = with_id(self.adapter.get_record(self.object_type, record.id) or record, record.id)
        owner = self.ctx.user(record.owner_id)
        policy = self.ctx.rules.returning.on_return if self.ctx.rules is not None else "task"
        name = inputs["match"]["other_name"]
        via = inputs["match"]["via"]
        if owner is not None and owner.active:
            self.came_back_task(record, owner.id)
            did = f"note and task for {owner.name or owner.email}"
        elif policy == "route_again_if_unowned" and self.ctx.rules is not None:
            routed = route_record(self.ctx, record, key=f"route:{record.object_type}:{record.id}:returned:"
                                                        f"{self.sub.id}")
            who = self.owner_name(routed)
            did = f"note; nobody active owned it, routed again to {who}" if who else \
                "note; nobody active owned it, routed again: waiting in review"
        else:
            if "review_item" not in inputs:
                self.session.add(ReviewItem(
                    tenant_id=self.ctx.tenant_id, kind="routing", object_type=record.object_type,
                    object_id=record.id, reason=f"{name} came back through the web form and has no active owner"))
                self.note(review_item=True)
            did = "note; nobody active owns it, sent to review"
        return self.finish(UPDATED, f"Came back: matched {name} ({via}): {did}")

    def twin_captures(self, record_id: str) -> set[str]:
        """The outcomes of other submissions' captures of this record ("in progress" while one runs)."""
        self.session.expire_all()  # what other jobs committed since this one read
        return set(self.session.scalars(select(Decision.outcome).where(
            Decision.tenant_id == self.ctx.tenant_id, Decision.kind == "capture", Decision.object_id == record_id,
            Decision.id != self.decision.id)))

    def came_back_task(self, record: Record, owner_id: str) -> None:
        if "task_id" in self.inputs:
            return
        name = person_name({**record.fields, **self.values})
        message = str(self.sub.fields.get("message") or "").strip()
        body = f"{name} filled in the web form again" + (f": {message}" if message else ".")
        if page := self.sub.fields.get("page_url"):
            body += f"\nPage: {page}"
        task_id = self.adapter.create_task(TaskSpec(
            subject=f"Came back: {name}", body=body, due_at=self.ctx.now() + CAME_BACK_DUE, owner_id=owner_id,
            record_type=record.object_type, record_id=record.id, kind="call", priority="high"))
        self.note(task_id=task_id, task_owner_id=owner_id)

    # shared steps -----------------------------------------------------------------------------
    def add_note(self, record_id: str, unplaced: dict, returning: bool) -> None:
        if "note_id" in self.inputs or "note_error" in self.inputs:
            return
        text = note_text(self.sub.fields or {}, self.sub.extra or {}, unplaced, returning=returning)
        try:
            self.note(note_id=self.adapter.add_note(self.object_type, record_id, text))
        except REFUSED as exc:  # the record stands without its note: said in the audit, not retried for ever
            log.warning("capture.note-refused", extra={"tenant_id": self.ctx.tenant_id, "error": str(exc)})
            self.note(note_error=str(exc)[:300])

    def owner_name(self, email: str | None) -> str | None:
        if not email:
            return None
        user = self.ctx.user_by_email(email)
        return (user.name or user.email) if user else email

    def finish(self, status: str, reason: str) -> str:
        sub = self.sub
        sub.status, sub.processed_at = status, utcnow()
        self.decision.outcome, self.decision.reason = status, reason[:500]
        self.session.commit()
        log.info("capture.done", extra={"tenant_id": self.ctx.tenant_id, "status": status})
        return status

    def fail(self, why: str) -> str:
        """A permanent refusal: the submission says so, with an audit decision (never silently lost)."""
        sub = self.sub
        sub.status, sub.error, sub.processed_at = FAILED, why[:500], utcnow()
        if self.decision is None:
            self.decision = Decision(tenant_id=self.ctx.tenant_id, idempotency_key=capture_key(sub), kind="capture",
                                     object_type=self.object_type, object_id=sub.record_id or "", outcome=FAILED,
                                     reason="", inputs={"submission": sub.public_id})
            self.session.add(self.decision)
        self.decision.outcome = FAILED
        self.decision.reason = f"Web form submission from {person_name(self.values)} not captured: {why}"[:500]
        self.session.commit()
        log.warning("capture.failed", extra={"tenant_id": self.ctx.tenant_id, "error": why[:300]})
        return FAILED


def _matched_on(values: dict, other: Record) -> str:
    """Why the match is sure, in words: the key both share."""
    f = other.fields
    if email_key(values.get("email")) and email_key(values.get("email")) in {
            email_key(e) for e in (f.get("email"), *other.extra_emails)}:
        return "same email"
    country = values.get("country")
    if phone_key(values.get("phone"), country) and phone_key(values.get("phone"), country) in {
            phone_key(p, f.get("country")) for p in (f.get("phone"), f.get("mobile"), *other.extra_phones)}:
        return "same phone"
    return "same name and details"


def _without(fields: dict, names: dict) -> dict:
    return {k: v for k, v in fields.items() if k not in names}


def _jsonable(values: dict) -> dict:
    return {k: (v if isinstance(v, str | int | float | bool | list) or v is None else str(v))
            for k, v in values.items()}


def resume_submissions(session: Session, tenant_id: int | None = None) -> int:
    """Queue every stored submission still waiting (`accepted`, never processed) of an active tenant, or of
    `tenant_id`: at worker start (an enqueue lost to a Redis outage, or a crash) and when a paused tenant is
    reconnected. A submission whose job still waits keeps it (the job id is the submission's)."""
    query = (select(IntakeSubmission.tenant_id, IntakeSubmission.id)
             .join(Tenant, Tenant.id == IntakeSubmission.tenant_id)
             .where(IntakeSubmission.status == ACCEPTED, IntakeSubmission.processed_at.is_(None)))
    query = query.where(IntakeSubmission.tenant_id == tenant_id) if tenant_id is not None else query.where(
        Tenant.status == TenantStatus.ACTIVE)
    waiting = session.execute(query).all()
    for owner, submission_id in waiting:
        enqueue_submission(owner, submission_id)
    return len(waiting)

