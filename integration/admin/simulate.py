"""Simulate a rule-set version over the tenant's last N leads read from the CRM; nothing is written to the CRM.

The job reads leads with `changed_since`, then normalizes, scores and routes each one with a Router over an
in-memory pool state (the live rotation in Redis is not touched). Progress and the result are one small JSON
value in Redis per (tenant, version), which the console polls.

CRM calls go through the tenant's adapter, so they take from the shared rate budget like the pipeline's; a 429
(or the budget saying wait) is waited out and the same call made again, as the pipeline re-plans after
Retry-After. A wait longer than MAX_WAIT puts the job back on the queue for then instead of holding a worker.
Each changed owner is told apart: a rule that sends the lead elsewhere, or only another turn of the same pool's
round-robin (the rotation starts afresh in a simulation, so reshuffles say nothing about the rules).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from integration.config import get_settings
from integration.crm.account_owners import FREE_MAIL
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.enrich import enrich
from integration.errors import CRMError, CRMRateLimited
from integration.jobs import job, job_key
from integration.models import RuleSetVersion
from integration.protocols import CRMAdapter
from integration.queues import MAINTENANCE, redis_connection
from integration.records import Record
from integration.routing.normalize import normalize_lead, with_fields
from integration.routing.router import InMemoryPoolState, Route, Router
from integration.routing.score import Scorer
from integration.rules import RulesError, load_rules
from integration.rules.model import RuleSet

log = logging.getLogger("leadrelay.simulate")

DEFAULT_LEADS, MAX_LEADS = 200, 2000
PAGE_SIZE = 100
MAX_PAGES = 200  # at most 20,000 records read per simulation
PROGRESS_TTL = 24 * 3600
REVIEW = "review"
MAX_WAIT = 30.0  # a Retry-After longer than this: the job comes back then, instead of holding a worker
MAX_WAITED = 300.0  # waits in one run, in all
MAX_ATTEMPTS = 3  # runs put back for a long Retry-After, before the simulation gives up
# How a lead's simulated owner differs from its current one
SAME, RULE, ROTATION, UNOWNED = "same", "rule", "rotation", "unowned"


def rules_digest(body: Any) -> str:
    """A fingerprint of a rule-set document: a simulation names the rules it ran, so a draft edited while it ran
    is not taken as simulated."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def progress_key(tenant_id: int, version: int) -> str:
    return f"leadrelay:simulate:{tenant_id}:{version}"


def read_progress(tenant_id: int, version: int) -> dict[str, Any] | None:
    """{"state": queued|reading|running|done|failed, "done", "total", "result", "error"} or None."""
    raw = _redis().get(progress_key(tenant_id, version))
    return json.loads(raw) if raw else None


def _save(tenant_id: int, version: int, **values: Any) -> None:
    _redis().set(progress_key(tenant_id, version), json.dumps(values, default=str), ex=PROGRESS_TTL)


def _redis():
    return redis_connection(get_settings())


def start_simulation(tenant_id: int, version: int, limit: int = DEFAULT_LEADS) -> None:
    """Enqueue the simulation of `version` over the last `limit` leads (a waiting one is reused)."""
    limit = max(1, min(MAX_LEADS, int(limit)))
    _save(tenant_id, version, state="queued", done=0, total=limit, limit=limit)
    simulate_rules.enqueue(tenant_id, version, limit, job_id=job_key("simulate", tenant_id, version, limit))


class Patience:
    """Makes a CRM call again after a 429 (or the shared budget saying wait), after the wait it names.

    The adapter takes every call from the tenant's rate budget, as the pipeline's calls do; this only decides
    what a simulation does when told to wait: wait, up to MAX_WAIT at a time and MAX_WAITED in all, then re-raise
    (the job is then put back for later)."""

    def __init__(self, on_wait: Callable[[float, str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.on_wait, self.sleep = on_wait, sleep
        self.waits, self.waited = 0, 0.0

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        while True:
            try:
                return fn(*args, **kwargs)
            except CRMRateLimited as exc:
                wait = max(0.1, float(exc.retry_after or 1.0))
                if wait > MAX_WAIT or self.waited + wait > MAX_WAITED:
                    raise
                self.waits, self.waited = self.waits + 1, self.waited + wait
                log.info("simulate.rate-limited", extra={"retry_after": round(wait, 2), "error": str(exc)[:200]})
                if self.on_wait:
                    self.on_wait(wait, str(exc))
                self.sleep(wait)


@job(MAINTENANCE, name="simulate_rules", timeout=1800, retries=0)
def simulate_rules(tenant_id: int, version: int, limit: int, attempt: int = 1) -> dict[str, Any] | None:
    """Route the last `limit` leads with rule-set `version` in memory; store per-lead rows and totals."""
    loaded = _rules(tenant_id, version)
    if loaded is None:
        return None
    rules, digest = loaded
    progress = Progress(tenant_id, version, limit, digest)
    patience = Patience(on_wait=progress.waiting)
    try:
        adapter = adapter_for(tenant_id)
        progress.save("reading", 0)
        records, reading = last_leads(adapter, limit, patience, on_page=lambda n: progress.save("reading", n))
        simulation = Simulation(rules, adapter, patience, on_progress=lambda done: progress.save(
            "running", done, len(records)))
        result = simulation.run(records)
    except CRMRateLimited as exc:
        return _later(tenant_id, version, limit, attempt, exc, progress)
    except CRMError as exc:
        progress.save("failed", 0, error=f"the CRM answered: {exc}")
        raise
    result.update(reading={**asdict(reading), "shortfall": reading.shortfall}, rate_limit_waits=patience.waits,
                  rate_limit_seconds=round(patience.waited, 1))
    progress.save("done", len(records), len(records), result=result)
    log.info("simulate.done", extra={"tenant_id": tenant_id, "version": version, "leads": len(records)})
    return {k: v for k, v in result.items() if k != "rows"}


def _rules(tenant_id: int, version: int) -> tuple[RuleSet, str] | None:
    with session_scope(get_settings().database_url) as session:
        row = session.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.version == version))
        body = dict(row.body) if row is not None else None
    if body is None:
        _save(tenant_id, version, state="failed", done=0, total=0, error=f"no version {version}")
        return None
    try:
        return load_rules(body), rules_digest(body)
    except RulesError as exc:
        _save(tenant_id, version, state="failed", done=0, total=0, error=f"the rule set is not valid: {exc}")
        return None


def _later(tenant_id: int, version: int, limit: int, attempt: int, exc: CRMRateLimited,
           progress: Progress) -> None:
    """The CRM asks for a longer wait than a job should sleep: come back then (or give up after MAX_ATTEMPTS)."""
    wait = max(1.0, float(exc.retry_after or 1.0))
    if attempt >= MAX_ATTEMPTS:
        progress.save("failed", 0, error=f"the CRM kept answering that LeadRelay is over its API limit ({exc}); "
                                         "try again later")
        return None
    resume = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
    progress.save("waiting", 0, resume_at=resume.isoformat(timespec="seconds"),
                  notice=f"The CRM's API limit is used up for now ({exc}): the simulation starts again at "
                         f"{resume:%H:%M} UTC.")
    simulate_rules.enqueue(tenant_id, version, limit, attempt + 1,
                           job_id=job_key("simulate", tenant_id, version, limit, "later", attempt + 1), delay=wait)
    return None


class Progress:
    """The one JSON value the console polls for a (tenant, version) simulation."""

    def __init__(self, tenant_id: int, version: int, limit: int, digest: str = "") -> None:
        self.tenant_id, self.version, self.limit, self.digest = tenant_id, version, limit, digest

    def save(self, state: str, done: int, total: int | None = None, **values: Any) -> None:
        _save(self.tenant_id, self.version, state=state, done=done, total=self.limit if total is None else total,
              limit=self.limit, digest=self.digest, **values)

    def waiting(self, seconds: float, error: str) -> None:
        current = read_progress(self.tenant_id, self.version) or {}
        _save(self.tenant_id, self.version, **{**current, "notice": (
            f"The CRM asked LeadRelay to slow down ({error[:160]}): waiting {seconds:.1f} s, then going on.")})


@dataclass
class Reading:
    """How the leads were read: the admin is told why fewer were read than asked."""

    asked: int
    read: int = 0
    object_type: str = ""
    complete: bool = False  # read from the CRM's very first record to its newest: there are no more
    capped: bool = False  # stopped after MAX_PAGES pages
    stuck: bool = False  # the CRM's change list stopped moving (the same cursor twice)

    @property
    def shortfall(self) -> str:
        """Why fewer leads were read than asked ("" when as many as asked were read)."""
        if self.read >= self.asked:
            return ""
        if self.capped:
            return (f"Read {self.read} of the {self.asked} leads asked: a simulation reads at most "
                    f"{MAX_PAGES * PAGE_SIZE:,} records.")
        if self.stuck:
            return (f"Read {self.read} of the {self.asked} leads asked: the CRM's list of changes stopped "
                    "moving forward, so reading stopped there.")
        return (f"Read {self.read} of the {self.asked} leads asked: that is every {self.object_type} in the CRM "
                "(it holds no more).")


def last_leads(adapter: CRMAdapter, limit: int, patience: Patience | None = None,
               on_page: Callable[[int], None] | None = None) -> tuple[list[Record], Reading]:
    """The newest `limit` leads by creation time: the last day first, from the very first record if too few."""
    patience = patience or Patience()
    reading = Reading(asked=limit, object_type=adapter.LEAD_OBJECT)
    found: dict[str, Record] = {}
    _read(adapter, None, found, patience, reading, on_page)
    if len(found) < limit:
        reading.complete = _read(adapter, adapter.EPOCH_CURSOR, found, patience, reading, on_page)
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    newest = sorted(found.values(), key=lambda r: (r.created_at or r.updated_at or epoch, r.id))[-limit:]
    reading.read = len(newest)
    return newest, reading


def _read(adapter: CRMAdapter, cursor: str | None, found: dict[str, Record], patience: Patience,
          reading: Reading, on_page: Callable[[int], None] | None) -> bool:
    """Page through changes from `cursor` into `found`; True when the CRM said there were no more."""
    for _ in range(MAX_PAGES):
        page = patience.call(adapter.changed_since, adapter.LEAD_OBJECT, cursor, limit=PAGE_SIZE)
        found.update((r.id, r) for r in page.records)
        if on_page:
            on_page(len(found))
        if not page.has_more:
            return True
        if page.cursor == cursor:
            reading.stuck = True
            return False
        cursor = page.cursor
    reading.capped = True
    return False


class Simulation:
    """Routes records with a rule set and an in-memory rotation; counts per owner and per rule."""

    def __init__(self, rules: RuleSet, adapter: CRMAdapter, patience: Patience | None = None,
                 on_progress=None) -> None:
        self.rules, self.adapter, self.on_progress = rules, adapter, on_progress
        self.patience = patience or Patience()
        self.router = Router(rules, InMemoryPoolState())
        self.scorer = Scorer(rules.scoring)
        self.users = {u.id: u for u in self.patience.call(adapter.list_users)}
        self.active = {u.email.lower() for u in self.users.values() if u.active}
        self.wants_account_owner = any(r.when.account_owner for r in rules.routing)
        self._companies: dict[str, str | None] = {}

    def run(self, records: list[Record]) -> dict[str, Any]:
        rows = []
        for i, record in enumerate(records, 1):
            rows.append(self.simulate(record))
            if self.on_progress and (i % 25 == 0 or i == len(records)):
                self.on_progress(i)
        # the console names owners, not emails: the names of the CRM users the rows mention
        mentioned = {r["current"] for r in rows} | {r["simulated"] for r in rows}
        names = {u.email.lower(): u.name for u in self.users.values()
                 if u.email and u.name and u.email.lower() in mentioned}
        return {**summarize(rows), "owner_names": names}

    def simulate(self, record: Record) -> dict[str, Any]:
        owner, decision, reason = self._decide(record)
        current = self.users.get(str(record.owner_id)) if record.owner_id else None
        current_email = current.email.lower() if current else (record.owner_id or "")
        simulated = owner or REVIEW
        pool = self._pool(decision) if owner else None
        fields = record.fields
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k)) or record.id
        return {"id": record.id, "name": name, "email": fields.get("email") or "", "current": current_email,
                "simulated": simulated, "rule": (decision.rule if decision else None) or "(fallback)",
                "reason": reason, "change": self._change(current_email, simulated, pool), "pool": pool or "",
                "company": fields.get("company") or "", "url": self._url(record)}

    def _url(self, record: Record) -> str:
        """The record's page in the CRM, so the console names a lead and opens it (no URL: shown by name only)."""
        try:
            return self.adapter.record_url(record.object_type, record.id)
        except (CRMError, AttributeError, NotImplementedError):
            return ""

    def _change(self, current: str, simulated: str, pool: str | None) -> str:
        """same; rotation: the same pool, another member's turn; unowned: no owner now; rule: the rules move it."""
        if simulated == current:
            return SAME
        if not current:
            return UNOWNED
        if pool and current in {m.owner for m in self.rules.pools[pool].members}:
            return ROTATION
        return RULE

    def _pool(self, decision: Route | None) -> str | None:
        """The pool the decision's target drew from (None: an owner, the account owner or review)."""
        if decision is None:
            return None
        if decision.fallback:
            return self.rules.fallback.pool
        return next((r.assign.pool for r in self.rules.routing if r.name == decision.rule), None)

    def _decide(self, record: Record) -> tuple[str | None, Route | None, str]:
        raw = {**record.fields, "id": record.id, "created_at": record.created_at}
        normalized = normalize_lead(enrich(raw).lead_fields(raw), self.rules.source_labels)  # as the pipeline
        if normalized.unusable:
            # the reason already says "unusable lead"
            return None, None, normalized.unusable[:1].upper() + normalized.unusable[1:]
        lead = with_fields(normalized.lead, account_owner=self._account_owner(normalized.lead))
        decision = self.router.route_lead(lead, self.scorer.score_lead(lead), at=record.created_at)
        if decision.owner is not None and decision.owner not in self.active:
            return None, decision, f"{decision.reason}; but {decision.owner} is not an active user in the CRM"
        return decision.owner, decision, decision.reason

    def _account_owner(self, lead) -> str | None:
        if not self.wants_account_owner:
            return None
        domain = lead.email_domain if lead.email_domain not in FREE_MAIL else None
        key = domain or (lead.company or "").lower()
        if not key:
            return None
        if key not in self._companies:  # one read per company, however many leads share it
            company = self.patience.call(self.adapter.find_company, domain=domain,
                                         name=None if domain else lead.company)
            user = self.users.get(str(company.owner_id)) if company and company.owner_id else None
            self._companies[key] = user.email.lower() if user and user.active else None
        return self._companies[key]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per simulated owner and per rule, and how many leads would change owner, and why."""
    by_owner = Counter(r["simulated"] for r in rows)
    by_rule = Counter(r["rule"] for r in rows)
    changes = Counter(r["change"] for r in rows)
    return {"leads": len(rows), "changed": len(rows) - changes[SAME], "changed_by_rule": changes[RULE],
            "reshuffled": changes[ROTATION], "unowned": changes[UNOWNED], "review": by_owner.get(REVIEW, 0),
            "by_owner": by_owner.most_common(), "by_rule": by_rule.most_common(), "rows": rows}
