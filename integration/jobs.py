"""The one job decorator: queue, timeout, retries with backoff, tenant in meta, coalescing by job id."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
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
from integration.errors import CRMBudgetExhausted, ReauthRequired
from integration.logs import job_id_var, tenant_id_var
from integration.queues import QUEUES, UnknownQueue, get_queue, redis_connection

log = logging.getLogger("leadrelay.jobs")

# States in which a job with the same id will still run: enqueueing again would only duplicate it.
PENDING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue: str
    timeout: int
    retries: int | None  # None: the configured default (LEADRELAY_JOB_RETRIES)


def backoff(retries: int, base: int) -> Retry | None:
    """Exponential backoff: base, 2·base, 4·base … seconds between attempts."""
    if retries <= 0:
        return None
    return Retry(max=retries, interval=[base * 2 ** i for i in range(retries)])


def job(queue: str, timeout: int = 60, retries: int | None = None, require_active: bool = True) -> Callable:
    """Declare a job function `fn(tenant_id, *ids)`; adds `fn.enqueue(tenant_id, *args, job_id=…)`.

    Job arguments must be ids and small scalars. Jobs must be idempotent: RQ delivers at least once.
    With `require_active`, a job for a tenant that is gone or paused (re-auth needed, uninstalled)
    stops quietly before doing anything; its events stay in the log for when the tenant resumes.
    """
    if queue not in QUEUES:
        raise UnknownQueue(queue)

    def decorate(fn: Callable) -> Callable:
        spec = JobSpec(name=f"{fn.__module__}.{fn.__qualname__}", queue=queue, timeout=timeout, retries=retries)

        @functools.wraps(fn)
        def run(tenant_id: int | None, *args: Any, **kwargs: Any) -> Any:
            current = get_current_job()
            tokens = (job_id_var.set(current.id if current else None), tenant_id_var.set(tenant_id))
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
            finally:
                job_id_var.reset(tokens[0])
                tenant_id_var.reset(tokens[1])
            log.info("job.finished", extra={"job": spec.name, "ms": round((time.monotonic() - started) * 1000, 1)})
            return result

        run.spec = spec  # type: ignore[attr-defined]
        run.enqueue = functools.partial(enqueue, run)  # type: ignore[attr-defined]
        return run

    return decorate


def _after_reset(run: Callable, spec: JobSpec, current: Job, exc: CRMBudgetExhausted, tenant_id: int | None,
                 args: tuple, kwargs: dict) -> None:
    """The CRM refuses every call until its allowance resets (a daily API budget): run the job again then, instead
    of spending its retries (seconds apart) on calls that cannot succeed. Jobs that re-plan themselves on a rate
    limit never get here."""
    log.warning("job.put-off-until-reset", extra={"job": spec.name, "reason": str(exc),
                                                   "until": exc.until.isoformat(timespec="seconds")})
    again = current.id.removesuffix("-again").removesuffix("-after-reset") + "-after-reset"
    enqueue(run, tenant_id, *args, job_id=again, delay=exc.retry_after, **kwargs)


def _tenant_active(tenant_id: int) -> bool:
    from integration.db import session_scope
    from integration.models import Tenant, TenantStatus

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
    conn = connection or redis_connection(settings.redis_url or "")
    q = get_queue(spec.queue, conn)
    if job_id is not None:
        job_id = job_key(job_id)
        existing = _pending(job_id, conn)
        if existing is not None:
            return existing
        if _running(job_id, conn):
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
        return q.enqueue_in(dt.timedelta(seconds=max(1, math.ceil(delay))), fn, tenant_id, *args, **kwargs, **options)
    if at is not None:
        return q.enqueue_at(at, fn, tenant_id, *args, **kwargs, **options)
    return q.enqueue(fn, tenant_id, *args, **kwargs, **options)


def _pending(job_id: str, conn: Any) -> Job | None:
    try:
        existing = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return None
    return existing if existing.get_status(refresh=False) in PENDING else None


def _running(job_id: str, conn: Any) -> bool:
    try:
        return Job.fetch(job_id, connection=conn).get_status(refresh=False) == JobStatus.STARTED
    except NoSuchJobError:
        return False
