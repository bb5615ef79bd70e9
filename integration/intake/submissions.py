"""Web-form submissions, after the intake endpoint stored them: the `process_submission` job looks the person up
before any record exists (the dedup index first, then the CRM), creates or updates the record, enriches, routes.

The web layer (marketplace/intake_api.py) only validates, stores an IntakeSubmission and calls
`enqueue_submission`; everything that talks to the CRM happens here, on the intake queue.

A burst is worked in batches: the job of one submission takes, besides its own, the other waiting submissions of
the tenant nobody holds yet (a claim per submission in Redis, up to CAPTURE_BATCH), creates their records in one
batch call where the CRM has one, adds their notes in another, and writes their owners and SLA tasks in the
pipeline's batch writes. The other submissions' own jobs then find them done (or held: they leave them to the
batch). Whatever a batch hands back (a twin of a person in the same batch, a CRM that refused one create as a
duplicate its search does not show yet) goes back to its own job.

RQ delivers at least once and a CRM 429/5xx makes the job run again (retries with backoff), so every step is
kept where a retry finds it: the record's id is stored on the submission in the same transaction as the capture
decision, before any other CRM call, and each later step (note, blanks filled, task, route) is noted in that
decision's inputs once done. A retry never creates a second record and never writes a step twice.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.crm.account_owners import domain_of
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.dedup import classify, score_pair
from integration.dedup.index import candidates, email_key, index_record, phone_key
from integration.enrich import enrich
from integration.errors import (
    CRMBudgetExhausted,
    CRMConflict,
    CRMNotFound,
    CRMRateLimited,
    CRMRecordRefused,
    CRMValidationError,
)
from integration.intake.capture import (
    LockBusy,
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
from integration.pipeline.duplicates import as_dict, candidate_records, queue_review, tenant_scoring_for
from integration.pipeline.flow import Batch, batch_for, prefetch_companies, route_record
from integration.pipeline.writes import flush_owners
from integration.queues import INTAKE
from integration.records import NewRecord, Record, TaskSpec
from integration.rules.policies import Dedup

log = logging.getLogger("leadrelay.intake.submissions")
REFUSED = (CRMValidationError, CRMNotFound)  # the CRM will say the same again: no retry
CAME_BACK_DUE = dt.timedelta(hours=1)  # a person who writes again is warm: the owner is asked to call soon


CAPTURE_BATCH = 100  # submissions one job works at once: HubSpot's batch create takes 100 inputs a call
GATHER_PAGE = 500  # waiting submissions looked at per query while a batch is gathered
PACING_S = 120  # seconds a batch job may wait out short rate limits before it fails for RQ's backoff
CLAIM_TTL = 900  # seconds: a claim outlives its job (timeout 600 s) only when the worker died; then it frees itself
BATCHED = "batched"  # what a job answers whose submission another job's batch holds (and finishes)
# tenant.settings key: also a lead in the CRM's leads inbox (Pipedrive) for each new web-form person
INBOX_LEAD_SETTING = "capture_inbox_lead"


@job(INTAKE, name="process_submission", timeout=600)
def process_submission(tenant_id: int, submission_id: int) -> str:
    """Dedup before create, then create or update the CRM record, enrich, route: for this submission and the
    tenant's other waiting ones nobody holds (one batch). Returns this submission's status, or BATCHED when
    another job's batch holds it."""
    with session_scope(get_settings().database_url) as session:
        sub = IntakeSubmission.get_for_tenant(session, submission_id, tenant_id)
        if sub is None:
            return "missing"
        if sub.status != ACCEPTED:
            return sub.status  # done before: a re-delivered job changes nothing
        ctx = batch_for(session, tenant_id, adapter_for(tenant_id))
        claims = Claims(ctx.redis, tenant_id)
        if not claims.take([submission_id]):
            return BATCHED
        session.refresh(sub)  # a batch may have finished it between the read above and the claim
        if sub.status != ACCEPTED:
            claims.release_all()
            return sub.status
        retried = False
        try:
            return CaptureBatch(ctx, sub, claims).run()
        except Exception as exc:
            if _last_attempt():
                _give_up(tenant_id, submission_id, exc)
            else:
                # RQ runs this job again after its backoff (a 429, an outage): the batch stays claimed for that
                # retry (same job id, same claims), so the other submissions' jobs don't storm the CRM meanwhile
                retried = get_current_job() is not None
            raise
        finally:
            if not retried:
                claims.release_all()
                _requeue(tenant_id, claims.taken - {submission_id})


def _requeue(tenant_id: int, ids: set[int]) -> None:
    """The batch's other submissions it did not finish (handed back, or the job failed) go back to their own jobs:
    a job that answered BATCHED while the batch held its submission is over, so nothing else would run them."""
    if not ids:
        return
    with session_scope(get_settings().database_url) as session:
        waiting = session.scalars(select(IntakeSubmission.id).where(
            IntakeSubmission.tenant_id == tenant_id, IntakeSubmission.id.in_(ids),
            IntakeSubmission.status == ACCEPTED)).all()
    for submission_id in waiting:
        enqueue_submission(tenant_id, submission_id)


class Claims:
    """Which job works a waiting submission: one Redis key per submission, set only where none is (so two jobs
    never work one submission), given back when the job ends; a dead worker's claims expire."""

    _GIVE_BACK = """local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then n = n + redis.call('del', key) end
end
return n"""

    def __init__(self, redis: Any, tenant_id: int) -> None:
        current = get_current_job()
        self.redis, self.tenant_id = redis, tenant_id
        # a retried job keeps its RQ id: what its failed attempt held (a worker that died) is its own again
        self.token = current.id if current is not None else f"direct-{secrets.token_hex(8)}"
        self.held: set[int] = set()
        self.taken: set[int] = set()  # every submission this job held at some point

    def _key(self, submission_id: int) -> str:
        return f"leadrelay:capture:claim:{self.tenant_id}:{submission_id}"

    def take(self, ids: list[int]) -> list[int]:
        """Of `ids`, in order, those this job holds now: the free ones, and its own from a failed attempt."""
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for submission_id in ids:
            pipe.set(self._key(submission_id), self.token, nx=True, ex=CLAIM_TTL)
        got = dict(zip(ids, pipe.execute(), strict=True))
        lost = [i for i in ids if not got[i]]
        if lost:
            for submission_id, value in zip(lost, self.redis.mget([self._key(i) for i in lost]), strict=True):
                got[submission_id] = value is not None and value.decode() == self.token
                if got[submission_id]:
                    self.redis.expire(self._key(submission_id), CLAIM_TTL)  # a retry holds them anew
        mine = [i for i in ids if got[i]]
        self.held.update(mine)
        self.taken.update(mine)
        return mine

    def free(self, ids: list[int]) -> list[int]:
        """Of `ids`, those nobody holds now (or this job itself)."""
        values = self.redis.mget([self._key(i) for i in ids]) if ids else []
        return [i for i, v in zip(ids, values, strict=True) if v is None or v.decode() == self.token]

    def give_back(self, ids: set[int]) -> None:
        if ids:
            self.redis.eval(self._GIVE_BACK, len(ids), *(self._key(i) for i in ids), self.token)
            self.held -= ids

    def release_all(self) -> None:
        self.give_back(set(self.held))


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


@dataclasses.dataclass
class Plan:
    """A new record, decided under the person's lock and not created yet."""

    verdict: str  # "distinct" or "review"
    match: dict
    fields: dict
    unplaced: dict
    company_id: str | None = None

    def drop_own_fields(self) -> bool:
        """LeadRelay's own fields move from the record into the note; False when it had none to drop."""
        own = {k: v for k, v in self.fields.items() if k.startswith("leadrelay_")}
        self.fields, self.unplaced = _without(self.fields, own), {**self.unplaced, **own}
        return bool(own)


class CaptureBatch:
    """One job's submissions, its own first: looked up and created together, then noted, routed and tasked
    together; each submission's steps are kept on its own decision (a retry finds them)."""

    def __init__(self, ctx: Batch, own: IntakeSubmission, claims: Claims) -> None:
        self.ctx, self.own, self.claims = ctx, own, claims
        self.session: Session = ctx.session
        self.retry_own: Exception | None = None  # why the job's own submission waits for RQ's next attempt
        self.waited = 0.0  # seconds this job waited out rate limits (paced)

    def run(self) -> str:
        caps = [Capture(self.ctx, sub) for sub in self.gather()]
        self.look_up_and_create([c for c in caps if c.decision is None])
        live = [c for c in caps if c.decision is not None and c.sub.status == ACCEPTED
                and c.sub.id in self.claims.held]
        for cap in (c for c in live if c.inputs["verdict"] == "merge"):
            try:
                cap.came_back()
            except (TwinInProgress, LockBusy) as exc:
                self.hand_back(cap, exc)
        self.created([c for c in live if c.inputs["verdict"] != "merge" and c.sub.id in self.claims.held])
        if self.retry_own is not None:
            raise self.retry_own
        return self.own.status

    def gather(self) -> list[IntakeSubmission]:
        """This job's submission, then the tenant's oldest waiting ones nobody holds, up to CAPTURE_BATCH (the
        oldest may all be held by other jobs' batches: it looks further)."""
        others: list[int] = []
        after = 0
        while len(others) < CAPTURE_BATCH - 1:
            page = self.session.scalars(
                select(IntakeSubmission.id).where(
                    IntakeSubmission.tenant_id == self.ctx.tenant_id, IntakeSubmission.status == ACCEPTED,
                    IntakeSubmission.processed_at.is_(None), IntakeSubmission.id != self.own.id,
                    IntakeSubmission.id > after)
                .order_by(IntakeSubmission.id).limit(GATHER_PAGE)).all()
            if not page:
                break
            after = page[-1]
            others += self.claims.take(self.claims.free(list(page))[:CAPTURE_BATCH - 1 - len(others)])
        rows = self.session.scalars(select(IntakeSubmission).where(
            IntakeSubmission.tenant_id == self.ctx.tenant_id, IntakeSubmission.id.in_(others))
            .order_by(IntakeSubmission.id)).all() if others else []
        return [self.own, *rows]

    def hand_back(self, cap: Capture, why: Exception) -> None:
        """Leave a submission to its own job (run again when this one ends); the job's own waits for a retry."""
        if cap.sub.id == self.own.id:
            self.retry_own = self.retry_own or why
        else:
            self.claims.give_back({cap.sub.id})

    def look_up_and_create(self, new: list[Capture]) -> None:
        """Under the lock of every person in the batch: each looked up (index, then CRM), the new ones created in
        as few CRM calls as the platform allows. A second submission of a person already in this batch is left to
        its own job, which finds the first one's record in the index."""
        usable: list[Capture] = []
        names: set[str] = set()
        for cap in new:
            if not cap.values.get("email") and not cap.values.get("phone"):
                cap.fail("no email and no phone to reach the person by")
                continue
            keys = set(lock_keys(self.ctx.tenant_id, cap.values))
            if keys & names:
                self.hand_back(cap, TwinInProgress(f"a twin of submission {cap.sub.id} is in this batch"))
                continue
            names |= keys
            usable.append(cap)
        if not usable:
            return
        with person_lock(self.ctx.redis, sorted(names), people=len(usable)):
            self.paced(lambda: self.prefetch_companies(usable))
            indexed = {cap.sub.id: cap.indexed() for cap in usable}
            read = self.paced(lambda: self.read_candidates(usable[0].object_type, indexed.values()))
            plans = []
            for cap in usable:  # while the index is incomplete, a CRM search each: paced by the CRM's search limit
                plan = self.paced(lambda cap=cap: cap.prepare(indexed[cap.sub.id], read))
                if plan is not None:
                    plans.append((cap, plan))
            self.create_all(plans)

    def paced(self, call: Callable[[], Any]) -> Any:
        """`call()`, waiting out a short rate limit (HubSpot: 4 searches a second) instead of failing the whole
        batch, up to PACING_S per job; a longer wait (a daily allowance used up) fails it for RQ's backoff."""
        while True:
            try:
                return call()
            except CRMRateLimited as exc:
                wait = max(0.05, exc.retry_after or 1.0)
                if isinstance(exc, CRMBudgetExhausted) or self.waited + wait > PACING_S:
                    raise
                self.waited += wait
                time.sleep(wait)

    def read_candidates(self, object_type: str, indexed: Iterable[set[tuple[str, str]]]) -> dict[str, Record]:
        """Every record the index names for the batch, read in as few calls as the CRM allows (a burst must not
        cost a read per person: HubSpot allows 100 calls in 10 seconds)."""
        ids = sorted({i for keys in indexed for t, i in keys if t == object_type})
        return {r.id: r for r in self.ctx.adapter.get_records(object_type, ids)} if ids else {}

    def prefetch_companies(self, caps: list[Capture]) -> None:
        """The CRM's companies of the batch's business email domains in one search (a new record is linked to its
        company in the create; a Salesforce Lead has no such link). Not finding them never stops a capture."""
        if caps[0].object_type == "lead":
            return
        try:
            self.ctx.accounts.prefetch([c.values.get("email") for c in caps])
        except REFUSED as exc:
            log.warning("capture.company-lookup-refused", extra={"tenant_id": self.ctx.tenant_id, "error": str(exc)})

    def create_all(self, plans: list[tuple[Capture, Plan]]) -> None:
        if not plans:
            return
        results = self.create(plans)
        refused = [n for n, (_, plan) in enumerate(plans)
                   if _fields_refused(results[n]) and plan.drop_own_fields()]
        if refused:
            # LeadRelay's own fields refused (the package lacks one, the install has not made them yet): those
            # records again without them, in one more batch; the fields go into the note, never cost a record
            log.warning("capture.fields-refused", extra={"tenant_id": self.ctx.tenant_id,
                                                         "error": str(results[refused[0]])})
            for n, result in zip(refused, self.create([plans[n] for n in refused]), strict=True):
                results[n] = result
        stop: Exception | None = None
        for (cap, plan), result in zip(plans, results, strict=True):
            if isinstance(result, str):
                cap.created_as(result, plan)
            elif isinstance(result, CRMConflict):
                # a unique value (HubSpot: the email) is another record's, which neither the index nor the CRM's
                # lagging search knew: made in the CRM a moment ago. Retried (RQ backoff), the search sees it
                # then and the submission updates that record instead of failing
                self.hand_back(cap, PersonNotSearchableYet(str(result)))
            elif isinstance(result, REFUSED):
                cap.fail(f"the CRM refused the new record: {result}")
            else:
                stop = stop or result  # a rate limit or an outage: the created ones are kept, the job retried
        if stop is not None:
            raise stop

    def create(self, plans: list[tuple[Capture, Plan]]) -> list[str | Exception]:
        return self.ctx.adapter.create_records(plans[0][0].object_type, [
            NewRecord(plan.fields, None, plan.company_id) for _, plan in plans])

    def created(self, caps: list[Capture]) -> None:
        """The new records' notes (one batch), review items, routes (decided one by one, owners and SLA tasks
        written in one batch); each submission is finished only once its owner is written."""
        if not caps:
            return
        self.add_notes(caps)
        records = [cap.new_record() for cap in caps]
        if self.ctx.rules is not None:
            self.paced(lambda: prefetch_companies(self.ctx, records))
        owners = []
        for cap, record in zip(caps, records, strict=True):
            cap.queue_review(record)
            owners.append(route_record(self.ctx, record, flush=False) if self.ctx.rules is not None else None)
        flush_owners(self.ctx)
        self.inbox_leads(caps, owners)
        for cap, owner in zip(caps, owners, strict=True):
            cap.finish_created(owner)

    def inbox_leads(self, caps: list[Capture], owners: list[str | None]) -> None:
        """Where the tenant asks for it and the CRM keeps a leads inbox (Pipedrive), a lead there on each new
        record, owned by its routed owner (one call each: there is no batch create for leads)."""
        if not (self.ctx.adapter.INBOX_LEADS and (self.ctx.tenant.settings or {}).get(INBOX_LEAD_SETTING)):
            return
        for cap, owner in zip(caps, owners, strict=True):
            if "inbox_lead_id" in cap.inputs or "inbox_lead_error" in cap.inputs:
                continue
            user = self.ctx.user_by_email(owner) if owner else None
            title = f"{person_name(cap.values)} (web form)"
            try:
                cap.note(inbox_lead_id=self.ctx.adapter.create_inbox_lead(
                    cap.sub.record_id, title, user.id if user else None))
            except REFUSED as exc:  # the person stands without it: said in the audit, not retried for ever
                log.warning("capture.inbox-lead-refused", extra={"tenant_id": self.ctx.tenant_id, "error": str(exc)})
                cap.note(inbox_lead_error=str(exc)[:300])

    def add_notes(self, caps: list[Capture]) -> None:
        todo = [c for c in caps if "note_id" not in c.inputs and "note_error" not in c.inputs]
        if not todo:
            return
        results = self.ctx.adapter.add_notes(todo[0].object_type, [
            (c.sub.record_id, c.note_body(c.inputs.get("unplaced") or {}, returning=False)) for c in todo])
        stop: Exception | None = None
        for cap, result in zip(todo, results, strict=True):
            if isinstance(result, str):
                cap.note(commit=False, note_id=result)
            elif isinstance(result, REFUSED):  # the record stands without its note: said in the audit
                log.warning("capture.note-refused", extra={"tenant_id": self.ctx.tenant_id, "error": str(result)})
                cap.note(commit=False, note_error=str(result)[:300])
            else:
                stop = stop or result
        self.session.commit()
        if stop is not None:
            raise stop


class Capture:
    """One submission's steps (see the module's docstring for what makes them safe to retry)."""

    def __init__(self, ctx: Batch, sub: IntakeSubmission) -> None:
        self.ctx, self.sub = ctx, sub
        self.session: Session = ctx.session
        self.adapter = ctx.adapter
        self.object_type = ctx.adapter.LEAD_OBJECT
        self.values = submitted(sub.fields or {})
        self.writable = frozenset(ctx.adapter.writable_fields(self.object_type))
        self.matched: Record | None = None
        self.decision = self.session.scalar(select(Decision).where(
            Decision.tenant_id == ctx.tenant_id, Decision.idempotency_key == capture_key(sub)))

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.decision.inputs or {}) if self.decision is not None else {}

    def note(self, commit: bool = True, **changes: Any) -> None:
        """Keep a finished step in the decision's inputs, committed: a retry skips it."""
        self.decision.inputs = {**self.inputs, **changes}
        if commit:
            self.session.commit()

    # before the record exists -----------------------------------------------------------------
    def probe(self) -> Record:
        return as_record(self.object_type, f"submission-{self.sub.id}", self.values)

    def indexed(self) -> set[tuple[str, str]]:
        """The records the dedup index names as this person's candidates."""
        return candidates(self.session, self.ctx.tenant_id, self.probe())

    def prepare(self, indexed: set[tuple[str, str]], read: Mapping[str, Record]) -> Plan | None:
        """Under the person's lock: the index (fresh; its candidates `read` already), then the CRM. A sure match is
        kept on the decision (None is returned: nothing to create); anything else is the record to create."""
        probe = self.probe()
        found = candidate_records(self.ctx, probe, indexed, read)
        policy = self.ctx.rules.dedup if self.ctx.rules is not None else Dedup()
        with tenant_scoring_for(self.ctx):  # the tenant's own calibration, when its records gave one
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
            return None
        enrichment = enrich(dict(self.sub.fields or {}))
        fields, unplaced = for_create(self.values, enrichment, self.writable, self.object_type)
        if verdict == "review" and "leadrelay_duplicate_of" in self.writable:
            fields["leadrelay_duplicate_of"] = best.id
        own = {k: v for k, v in fields.items() if k.startswith("leadrelay_")}
        state = ((self.ctx.tenant.settings or {}) if self.ctx.tenant else {}).get("leadrelay_fields") or {}
        if own and state.get("ready") is False:  # the install found LeadRelay's fields missing: into the note
            fields, unplaced = _without(fields, own), {**unplaced, **own}
        company_id = None if self.object_type == "lead" else self.ctx.accounts.company_id(
            domain_of(self.values.get("email")))
        return Plan(verdict, match, fields, unplaced, company_id)

    def created_as(self, record_id: str, plan: Plan) -> None:
        """The record exists: its id is kept with the decision before anything else can fail, and indexed, so a
        twin submission waiting on the person's lock finds it."""
        self.remember(record_id, plan.verdict, plan.match, {
            "fields": _jsonable(plan.fields), "unplaced": _jsonable(plan.unplaced),
            **({"company_id": plan.company_id} if plan.company_id else {})})
        index_record(self.session, self.ctx.tenant_id, as_record(self.object_type, record_id, plan.fields))
        self.session.commit()

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
    def new_record(self) -> Record:
        """The created record as routing sees it: everything the person gave, also what the CRM has no field for
        (a Pipedrive person's state)."""
        inputs = self.inputs
        return Record(self.object_type, self.sub.record_id, fields={**self.values, **(inputs.get("fields") or {})},
                      created_at=self.decision.created_at, company_id=inputs.get("company_id"))

    def queue_review(self, record: Record) -> None:
        inputs = self.inputs
        if inputs["verdict"] != "review" or "reviewed" in inputs or self.ctx.rules is None:
            return
        match = inputs["match"]
        other = Record(self.object_type, match["other"], fields={"first_name": match.get("other_name")})
        queue_review(self.ctx, record, other, match["score"], match["reasons"],
                     field_written="leadrelay_duplicate_of" in (inputs.get("fields") or {}))
        self.note(reviewed=True)

    def finish_created(self, owner: str | None) -> str:
        review = self.inputs["verdict"] == "review"
        page = self.sub.fields.get("page_url") or "no page given"
        who = self.owner_name(owner)
        routed = f"routed to {who}" if who else "waiting in review for an owner"
        reason = f"New lead from the web form (page {page}): created, {routed}"
        if self.inputs.get("company_id"):
            reason += ", linked to its company"
        if self.inputs.get("inbox_lead_id"):
            reason += ", with a lead in the leads inbox"
        if review:
            reason += f"; possible duplicate of {self.inputs['match']['other_name']}, sent to review"
        return self.finish(REVIEW if review else CREATED, reason)

    # a person the CRM already has -------------------------------------------------------------
    def came_back(self) -> str:
        inputs = self.inputs
        record = self.matched or self.adapter.get_record(self.object_type, self.sub.record_id)
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
        if twins and self.matched is not None:  # read before the twin's owner write: again
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
        try:
            self.note(note_id=self.adapter.add_note(self.object_type, record_id,
                                                    self.note_body(unplaced, returning=returning)))
        except REFUSED as exc:  # the record stands without its note: said in the audit, not retried for ever
            log.warning("capture.note-refused", extra={"tenant_id": self.ctx.tenant_id, "error": str(exc)})
            self.note(note_error=str(exc)[:300])

    def note_body(self, unplaced: dict, returning: bool) -> str:
        return note_text(self.sub.fields or {}, self.sub.extra or {}, unplaced, returning=returning)

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


def _fields_refused(result: object) -> bool:
    """The CRM refused the record's fields, not the record itself (a duplicate rule refuses it with any)."""
    return isinstance(result, CRMValidationError) and not isinstance(result, CRMRecordRefused)


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

