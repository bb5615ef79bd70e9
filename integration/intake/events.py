"""Intake: store webhook/sweep events idempotently, and drain them per tenant in fair, batched jobs."""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.crm.merged_records import MovableWrites, remap_merged
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.errors import CRMBudgetExhausted, CRMNotFound, CRMRateLimited, CRMValidationError
from integration.jobs import job
from integration.models import EventRecord, ReviewItem, Tenant, TenantStatus, utcnow
from integration.pipeline.flow import process_records
from integration.queues import INTAKE, redis_connection
from integration.records import Event

log = logging.getLogger("leadrelay.intake")

# Objects per drain job: large enough for batch reads, small enough that other tenants get their turn.
DRAIN_BATCH = 50
PENDING = ("received", "waiting")
LOCK_TTL = 15  # seconds; the running drain renews its lock every LOCK_TTL / 3


_INSERTS: dict[str, Any] = {}  # dialect -> the one compiled-once insert statement (the webhook's hot path)


def _insert_event(dialect: str) -> Any:
    if dialect not in _INSERTS:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        _INSERTS[dialect] = insert(EventRecord.__table__).on_conflict_do_nothing(
            index_elements=["tenant_id", "dedup_key"])
    return _INSERTS[dialect]


def record_events(session: Session, tenant_id: int, events: Iterable[Event],
                  writes: MovableWrites | None = None) -> int:
    """Insert events for the tenant, ignoring deliveries already stored; returns how many are new.

    An event that names records merged away (a merge; Pipedrive's change of the survivor names them too) moves what
    LeadRelay keeps under their ids to the merged record first (idempotent, so a redelivery changes nothing), before
    any drain reads the merged record: its route decision is then already there, and a lead decided once is never
    routed again under its new id.
    """
    events = list(events)
    for e in events:
        if e.merged_ids:
            remap_merged(session, tenant_id, e.object_type, e.merged_ids, e.object_id, writes)
    now = utcnow()
    rows = [{"tenant_id": tenant_id, "dedup_key": f"{e.platform}:{e.event_id}"[:200], "platform": e.platform,
             "object_type": e.object_type, "object_id": str(e.object_id), "kind": e.kind, "source": e.source[:64],
             "occurred_at": e.occurred_at or now, "received_at": now, "status": "received", "error": None}
            for e in events]
    if not rows:
        return 0
    connection = session.connection()
    stmt = _insert_event(connection.dialect.name)
    # one row per execute: a statement of one shape is compiled once per process, and rowcount stays exact
    return sum(connection.execute(stmt, row).rowcount or 0 for row in rows)


def _drain_flag(tenant_id: int) -> str:
    return f"leadrelay:drain-wanted:{tenant_id}"


def enqueue_drain(tenant_id: int, force: bool = False, redis: Any = None) -> bool:
    """One drain job per tenant at a time: a burst of events becomes one batched job (coalesced).

    A Redis flag set with NX is the cheap gate on the webhook path; the drain clears it before it reads the
    pending events, so an event stored after that read raises the flag again and gets its own drain.
    """
    redis = redis or redis_connection(get_settings())
    if not redis.set(_drain_flag(tenant_id), 1, nx=True, ex=120) and not force:
        return False
    drain_tenant.enqueue(tenant_id, job_id=f"drain-{tenant_id}", connection=redis)
    return True


def _pending_objects(session: Session, tenant_id: int) -> tuple[dict[str, list[str]], int]:
    """Up to DRAIN_BATCH objects with pending events, oldest first; and the highest event id included."""
    rows = session.execute(
        select(EventRecord.id, EventRecord.object_type, EventRecord.object_id, EventRecord.kind)
        .where(EventRecord.tenant_id == tenant_id, EventRecord.status.in_(PENDING)).order_by(EventRecord.id)
        .limit(DRAIN_BATCH * 20)).all()
    objects: dict[str, list[str]] = defaultdict(list)
    seen, max_id = set(), 0
    for event_id, object_type, object_id, _kind in rows:
        if (object_type, object_id) not in seen:
            if len(seen) >= DRAIN_BATCH:
                break
            seen.add((object_type, object_id))
            objects[object_type].append(object_id)
        max_id = event_id
    return dict(objects), max_id


def _mark(session: Session, tenant_id: int, object_type: str, ids: list[str], up_to: int, status: str,
          error: str | None = None) -> None:
    session.execute(update(EventRecord).where(
        EventRecord.tenant_id == tenant_id, EventRecord.object_type == object_type,
        EventRecord.object_id.in_(ids), EventRecord.id <= up_to, EventRecord.status.in_(PENDING))
        .values(status=status, error=error))


@job(INTAKE, name="drain_tenant", timeout=300)
def drain_tenant(tenant_id: int) -> dict[str, int]:
    """Fetch the changed objects in batches, hand them to the pipeline, mark their events processed."""
    settings = get_settings()
    redis = redis_connection(settings)
    # One drain per tenant at a time: two would read the same pending events and route a lead twice.
    with _drain_lock(redis, tenant_id) as held:
        if not held:
            drain_tenant.enqueue(tenant_id, job_id=f"drain-{tenant_id}-wait", delay=1)  # after the running one
            return {"busy": 1}
        return _drain(settings, redis, tenant_id)


@contextmanager
def _drain_lock(redis, tenant_id: int) -> Iterator[bool]:
    """The tenant's drain lock, renewed while the drain runs: a worker killed mid-drain (SIGKILL, OOM) leaves
    it behind for at most LOCK_TTL seconds instead of blocking the tenant for the whole job timeout."""
    lock = redis.lock(f"leadrelay:lock:drain:{tenant_id}", timeout=LOCK_TTL, thread_local=False)
    # Wait out a running drain (or a dead worker's lock expiring) here rather than only in a delayed job: a
    # SIGKILLed worker can also leave RQ's scheduler lock behind, and then delayed jobs wait for a long time.
    if not lock.acquire(blocking=True, blocking_timeout=LOCK_TTL + 1):
        yield False
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LOCK_TTL / 3):
            try:
                lock.reacquire()
            except LockError:
                log.warning("intake.drain-lock-lost", extra={"tenant_id": tenant_id})
                return

    renewer = threading.Thread(target=renew, name=f"drain-lock-{tenant_id}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        with suppress(LockError):
            lock.release()


def _drain(settings, redis, tenant_id: int) -> dict[str, int]:

    redis.delete(_drain_flag(tenant_id))
    with session_scope(settings.database_url) as session:
        objects, up_to = _pending_objects(session, tenant_id)
    if not objects:
        return {}
    adapter = adapter_for(tenant_id)
    done: dict[str, int] = {}
    for object_type, ids in objects.items():
        try:
            records = adapter.get_records(object_type, ids)
        except CRMRateLimited as exc:
            # wait for the platform's limit without holding a worker: this tenant's turn comes back later
            _later(settings, tenant_id, objects, up_to, exc)
            return done
        found = {r.id for r in records}
        with session_scope(settings.database_url) as session:
            try:
                process_records(session, tenant_id, adapter, object_type, records,
                                gone=[i for i in ids if i not in found])
            except CRMRateLimited as exc:
                session.commit()  # what was decided stays decided; the rest continues after Retry-After
                _later(settings, tenant_id, objects, up_to, exc)
                return done
            except (CRMValidationError, CRMNotFound) as exc:
                _park(session, tenant_id, object_type, ids, up_to, str(exc))
                continue
            _mark(session, tenant_id, object_type, ids, up_to, "processed")
        done[object_type] = len(ids)
    with session_scope(settings.database_url) as session:
        more, _ = _pending_objects(session, tenant_id)
    if more:
        enqueue_drain(tenant_id)  # to the back of the queue: other tenants' work goes first
    return done


def _later(settings, tenant_id: int, objects: dict[str, list[str]], up_to: int, exc: CRMRateLimited) -> None:
    """Drain again once the CRM takes calls again. An allowance used up until its reset (a daily budget) puts the
    work off until then, and its events say so (status "waiting", the reason in `error`) for the console."""
    drain_tenant.enqueue(tenant_id, job_id=f"drain-{tenant_id}-later", delay=exc.retry_after)
    if not isinstance(exc, CRMBudgetExhausted):
        return
    log.warning("intake.drain-put-off", extra={"tenant_id": tenant_id, "reason": str(exc),
                                                "until": exc.until.isoformat(timespec="seconds")})
    with session_scope(settings.database_url) as session:
        for object_type, ids in objects.items():
            _mark(session, tenant_id, object_type, ids, up_to, "waiting", str(exc)[:2000])


def _park(session: Session, tenant_id: int, object_type: str, ids: list[str], up_to: int, reason: str) -> None:
    """The CRM refused the data: a human looks at it; the events are kept with the reason."""
    session.rollback()
    for object_id in ids:
        session.add(ReviewItem(tenant_id=tenant_id, kind="crm_error", object_type=object_type, object_id=object_id,
                               reason=reason[:500]))
    _mark(session, tenant_id, object_type, ids, up_to, "failed", reason[:2000])


def resume_pending() -> int:
    """Enqueue a drain for every active tenant with pending events (worker start, after a crash)."""
    with session_scope(get_settings().database_url) as session:
        tenant_ids = session.scalars(select(EventRecord.tenant_id).join(Tenant, Tenant.id == EventRecord.tenant_id)
                                     .where(EventRecord.status.in_(PENDING), Tenant.status == TenantStatus.ACTIVE)
                                     .distinct()).all()
    for tenant_id in tenant_ids:
        enqueue_drain(tenant_id, force=True)  # a paused drain may have left its flag behind
    return len(tenant_ids)

