"""The one job decorator: queue, timeout, retries with backoff, tenant in meta, coalescing by job id; and the
registry of stable job names.

RQ stores a job by the dotted path it was enqueued under and imports that path when the job runs, which may be
hours (an SLA check) or days (a cadence step) later. LeadRelay enqueues every job as `integration.jobs.<name>`,
a name this module resolves (`__getattr__`, PEP 562) wherever the function lives now, so moving a module strands
no scheduled job. Paths jobs were stored under before the names existed resolve through `MOVED` for one release.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq import Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.errors import CRMBudgetExhausted, CRMRateLimited, ReauthRequired
from integration.logs import job_id_var, tenant_id_var, work_class_var
from integration.models import Tenant, TenantStatus
from integration.queues import QUEUES, UnknownQueue, get_queue, redis_connection

log = logging.getLogger("leadrelay.jobs")

# States in which a job with the same id will still run: enqueueing again would only duplicate it.
PENDING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


# Where each of integration's jobs is defined: a process resolving a name it has not imported yet (a worker
# picking up a check planned by another) imports it from here. The outer layers' jobs (adapters, oauth) are
# registered when worker.py imports their modules at start.
HOMES: dict[str, str] = {
    "drain_tenant": "integration.intake.events",
    "sweep_tenant": "integration.intake.sweep",
    "backfill_tenant": "integration.intake.backfill",
    "calibrate_tenant_dedup": "integration.intake.calibration",
    "process_submission": "integration.intake.submissions",
    "open_sla_task": "integration.followup.sla",
    "check_sla": "integration.followup.sla",
    "escalate_sla": "integration.followup.escalation",
    "run_cadence_step": "integration.followup.cadences",
    "reactivate_stale": "integration.followup.stale",
    "erase_tenant_data": "integration.admin.tenancy",
    "simulate_rules": "integration.admin.simulate",
    "complete_probe": "integration.admin.diagnostics",
    "send_first_response": "integration.outreach.firstresponse",
    "new_lead_handoff": "integration.outreach.hooks",
    "read_inbound": "integration.outreach.replies",
    "handle_inbound": "integration.outreach.replies",
    "weekly_summary": "integration.admin.conversions",
}
# Each job's work class (integration.ratelimit serves the CRM's API budget in WORK_CLASSES order): what a lead
# waits for first, bulk work last. Every named job has one (tests/test_job_names.py); a job without one is bulk.
WORK_CLASS: dict[str, str] = {
    # a new lead waits on these for its owner or its first answer
    "drain_tenant": "new_lead",
    "process_submission": "new_lead",
    "send_first_response": "new_lead",
    "new_lead_handoff": "new_lead",
    "handle_inbound": "new_lead",
    # an owned lead's clock runs: the first touch and its escalations
    "check_sla": "sla",
    "escalate_sla": "sla",
    "open_sla_task": "sla",
    # later steps: cadences, lifecycle, stale reactivation, reading replies; the diagnostics probe (an operator
    # checking the path, not a lead waiting)
    "run_cadence_step": "followup",
    "reactivate_stale": "followup",
    "read_inbound": "followup",
    "complete_probe": "followup",
    # the safety net for lost webhooks (with its meetings pass)
    "sweep_tenant": "sweep",
    # whatever can wait for the budget to be whole: backfill, simulation, calibration, install follow-ups,
    # erasure, summaries
    "backfill_tenant": "bulk",
    "simulate_rules": "bulk",
    "calibrate_tenant_dedup": "bulk",
    "erase_tenant_data": "bulk",
    "weekly_summary": "bulk",
    "verify_installation": "bulk",
    "subscribe_tenant_webhooks": "bulk",
    "ensure_tenant_fields": "bulk",
}
# Dotted paths jobs were enqueued under before stable names (up to release 2026-12), scheduled ones among them:
# they still run. Remove after the next release, when no job can still name them.
MOVED: dict[str, str] = {
    "integration.intake.drain_tenant": "drain_tenant",
    "integration.sweep.sweep_tenant": "sweep_tenant",
    "integration.backfill.backfill_tenant": "backfill_tenant",
    "integration.sla.open_sla_task": "open_sla_task",
    "integration.sla.check_sla": "check_sla",
    "integration.sla.escalate_sla": "escalate_sla",
    "integration.sla_escalation.escalate_sla": "escalate_sla",
    "integration.cadences.run_cadence_step": "run_cadence_step",
    "integration.stale.reactivate_stale": "reactivate_stale",
    "integration.tenancy.erase_tenant_data": "erase_tenant_data",
    "integration.simulate.simulate_rules": "simulate_rules",
    "integration.diagnostics.complete_probe": "complete_probe",
    "adapters.subscriptions.subscribe_tenant_webhooks": "subscribe_tenant_webhooks",
    "adapters.subscriptions.ensure_tenant_fields": "ensure_tenant_fields",
    "oauth.jobs.verify_installation": "verify_installation",
}
_REGISTRY: dict[str, Callable] = {}


class UnknownJob(AttributeError):
    pass


@dataclass(frozen=True)
class JobSpec:
    name: str  # the stable name
    path: str  # what RQ stores and imports when the job runs: `integration.jobs.<name>`
    queue: str
    timeout: int
    retries: int | None  # None: the configured default (LEADRELAY_JOB_RETRIES)


def backoff(retries: int, base: int) -> Retry | None:
    """Exponential backoff: base, 2·base, 4·base … seconds between attempts."""
    if retries <= 0:
        return None
    return Retry(max=retries, interval=[base * 2 ** i for i in range(retries)])


def job(queue: str, *, name: str | None, timeout: int = 60, retries: int | None = None,
        require_active: bool = True) -> Callable:
    """Declare a job function `fn(tenant_id, *ids)` under a stable `name` (never change it: scheduled jobs carry
    it); adds `fn.enqueue(tenant_id, *args, job_id=…)`. `name=None` stores the job under its own dotted path, for
    jobs outside the product (tests) that a worker imports by path; every product job has a name
    (tests/test_job_names.py).

    Job arguments must be ids and small scalars. Jobs must be idempotent: RQ delivers at least once.
    With `require_active`, a job for a tenant that is gone or paused (re-auth needed, uninstalled)
    stops quietly before doing anything; its events stay in the log for when the tenant resumes.
    """
    if queue not in QUEUES:
        raise UnknownQueue(queue)

    def decorate(fn: Callable) -> Callable:
        own_path = f"{fn.__module__}.{fn.__qualname__}"
        spec = JobSpec(name=name or own_path, path=stored_path(name) if name else own_path, queue=queue,
                       timeout=timeout, retries=retries)

        @functools.wraps(fn)
        def run(tenant_id: int | None, *args: Any, **kwargs: Any) -> Any:
            current = get_current_job()
            tokens = (job_id_var.set(current.id if current else None), tenant_id_var.set(tenant_id),
                      work_class_var.set(WORK_CLASS.get(spec.name, "bulk")))
            started = time.monotonic()
            try:
                if require_active and tenant_id is not None and not _tenant_active(tenant_id):
                    log.info("job.skipped-inactive-tenant", extra={"job": spec.name})
                    return "tenant-inactive"
                try:
                    result = fn(tenant_id, *args, **kwargs)
                except ReauthRequired as exc:
                    # not a failure to retry: the tenant is paused until the admin reconnects
                    log.warning("job.paused-reauth-required", extra={"job": spec.name, "reason": exc.reason})
                    return "reauth-required"
                except CRMBudgetExhausted as exc:
                    if current is None:
                        raise
                    _after_reset(run, spec, current, exc, tenant_id, args, kwargs)
                    return "put-off"
                except CRMRateLimited as exc:
                    if current is None or not getattr(exc, "held", None):
                        raise
                    _after_hold(run, spec, current, exc, tenant_id, args, kwargs)
                    return "held"
            finally:
                job_id_var.reset(tokens[0])
                tenant_id_var.reset(tokens[1])
                work_class_var.reset(tokens[2])
            log.info("job.finished", extra={"job": spec.name, "ms": round((time.monotonic() - started) * 1000, 1)})
            return result

        run.spec = spec  # type: ignore[attr-defined]
        run.enqueue = functools.partial(enqueue, run)  # type: ignore[attr-defined]
        if name is not None:
            _register(run, spec)
        return run

    return decorate


def _register(run: Callable, spec: JobSpec) -> None:
    known = _REGISTRY.get(spec.name)
    if known is not None and (known.__module__, known.__qualname__) != (run.__module__, run.__qualname__):
        raise ValueError(f"job name {spec.name!r} is taken by {known.__module__}.{known.__qualname__}")
    _REGISTRY[spec.name] = run


def stored_path(name: str) -> str:
    """The dotted path RQ stores for the job `name` (what `import_attribute` resolves when it runs)."""
    return f"{__name__}.{name}"


def registered() -> dict[str, Callable]:
    """The jobs this process has imported, by stable name."""
    return dict(_REGISTRY)


def resolve(name: str) -> Callable:
    """The job function for a stable name, importing its module when this process has not yet."""
    if name not in _REGISTRY and name in HOMES:
        importlib.import_module(HOMES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownJob(f"no job named {name!r} (known: {', '.join(sorted({*HOMES, *_REGISTRY}))})") from None


def moved_job(path: str) -> Callable:
    """The job an old dotted path (`MOVED`) names; AttributeError for any other path, as Python expects."""
    if path not in MOVED:
        raise UnknownJob(f"module {path.rpartition('.')[0]!r} has no attribute {path.rpartition('.')[2]!r}")
    return resolve(MOVED[path])


def __getattr__(name: str) -> Callable:
    """`integration.jobs.<name>`: how RQ finds a job by its stable name."""
    if name.startswith("__"):
        raise AttributeError(name)
    return resolve(name)


def _after_reset(run: Callable, spec: JobSpec, current: Job, exc: CRMBudgetExhausted, tenant_id: int | None,
                 args: tuple, kwargs: dict) -> None:
    """The CRM refuses every call until its allowance resets (a daily API budget): run the job again then, instead
    of spending its retries (seconds apart) on calls that cannot succeed. Jobs that re-plan themselves on a rate
    limit never get here."""
    log.warning("job.put-off-until-reset", extra={"job": spec.name, "reason": str(exc),
                                                   "until": exc.until.isoformat(timespec="seconds")})
    again = current.id.removesuffix("-again").removesuffix("-after-reset") + "-after-reset"
    enqueue(run, tenant_id, *args, job_id=again, delay=exc.retry_after, **kwargs)


def _after_hold(run: Callable, spec: JobSpec, current: Job, exc: CRMRateLimited, tenant_id: int | None,
                args: tuple, kwargs: dict) -> None:
    """The budget is keeping what is left for higher-priority work (new leads): this is not a failure, so run the
    job again when the bucket has refilled past the class's share, and spend none of its retries on it (jobs are
    idempotent: what this attempt did is skipped or repeated harmlessly)."""
    log.info("job.held-for-priority", extra={"job": spec.name, "work_class": exc.held,
                                              "retry_after": round(exc.retry_after or 1, 2)})
    again = current.id.removesuffix("-again").removesuffix("-held") + "-held"
    enqueue(run, tenant_id, *args, job_id=again, delay=exc.retry_after or 1, **kwargs)


def _tenant_active(tenant_id: int) -> bool:
    with session_scope(get_settings().database_url) as session:
        status = session.scalar(select(Tenant.status).where(Tenant.id == tenant_id))
    return status == TenantStatus.ACTIVE


_JOB_ID_OK = re.compile(r"^[A-Za-z0-9_-]{1,120}$")


def job_key(*parts: object) -> str:
    """A deterministic RQ job id from a key (RQ allows letters, digits, _ and - only)."""
    key = "-".join(str(p) for p in parts)
    if _JOB_ID_OK.match(key):
        return key
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", key)[:80]
    return f"{readable}-{hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]}"


def enqueue(fn: Callable, tenant_id: int | None, *args: Any, job_id: str | None = None,
            at: Any = None, delay: float | None = None, connection: Any = None, **kwargs: Any) -> Job:
    """Enqueue `fn` for `tenant_id`. With `job_id`, a still-pending job of that id is reused (coalescing)."""
    spec: JobSpec = fn.spec  # type: ignore[attr-defined]
    settings = get_settings()
    conn = connection or redis_connection(settings)
    q = get_queue(spec.queue, conn)
    if job_id is not None:
        job_id = job_key(job_id)
        existing = _fetch(job_id, conn)  # one read: the web layer enqueues on its request path
        if existing is not None and existing.get_status(refresh=False) in PENDING:
            return existing
        if existing is not None and existing.get_status(refresh=False) == JobStatus.STARTED:
            # The running attempt may have read data older than this request: run once more after it.
            job_id = f"{job_id}-again"
            existing = _pending(job_id, conn)
            if existing is not None:
                return existing
    retries = settings.job_retries if spec.retries is None else spec.retries
    options = dict(job_id=job_id, job_timeout=spec.timeout, retry=backoff(retries, settings.job_backoff_seconds),
                   meta={"tenant_id": tenant_id}, result_ttl=3600, failure_ttl=14 * 24 * 3600,
                   description=f"{spec.name}(tenant={tenant_id})")
    if delay is not None:
        wait = dt.timedelta(seconds=max(1, math.ceil(delay)))
        return q.enqueue_in(wait, spec.path, tenant_id, *args, **kwargs, **options)
    if at is not None:
        return q.enqueue_at(at, spec.path, tenant_id, *args, **kwargs, **options)
    return q.enqueue(spec.path, tenant_id, *args, **kwargs, **options)


def _fetch(job_id: str, conn: Any) -> Job | None:
    try:
        return Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return None


def _pending(job_id: str, conn: Any) -> Job | None:
    existing = _fetch(job_id, conn)
    return existing if existing is not None and existing.get_status(refresh=False) in PENDING else None
