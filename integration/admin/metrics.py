"""Prometheus series read at scrape time from what LeadRelay already keeps: the database and Redis.

Nothing is counted in process memory, so every gunicorn process and every RQ worker on every host is seen the
same way, with no multiprocess files: any web process answers for the whole fleet.
The cost of one scrape is bounded: the event and decision series look at the last WINDOW, and at most the newest
SCAN_ROWS rows of each table by primary key (a range scan of the primary key, however large the table grows);
failed jobs are named for at most FAILED_NAMED per queue; budgets are read for active tenants by known keys (no
SCAN), one pipeline per tenant.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from integration.admin.health import WEBHOOK_SOURCES_NOT, aware, queue_lag
from integration.db import session_scope
from integration.jobs import stored_path
from integration.models import Decision, EventRecord, ReviewItem, Tenant, TenantStatus
from integration.queues import QUEUES, get_queue, queue_depths
from integration.ratelimit import DEFAULT_THRESHOLDS, WAITS_WINDOW, WORK_CLASSES, read_budgets, read_waits, share_floor

log = logging.getLogger("leadrelay.metrics")

WINDOW = dt.timedelta(hours=1)
SCAN_ROWS = 100_000  # newest rows of `events` and of `decisions` a scrape may look at
FAILED_NAMED = 1_000  # failed jobs per queue whose name is read; the rest are counted as job="other"
# webhook in (CRM's create time) -> owner written: the budgets are 0.1-0.8 s, an SLA is minutes
SPEED_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JOB_PREFIX = stored_path("")
RESTORED = "restored"  # the route decision of a record an undo re-created (integration/admin/undo.py)

RateLimits = Callable[[str], Mapping[str, tuple[int, float]]]


def _recent(session: Session, model: Any, stamp: Any, since: dt.datetime):
    """Rows stamped since `since`, among the newest SCAN_ROWS by id: an index range, not a table scan."""
    newest = session.scalar(select(func.max(model.id))) or 0
    return (model.id > newest - SCAN_ROWS, stamp >= since)


def webhooks(session: Session, since: dt.datetime) -> Counter:
    """(platform, status) -> webhook events received since `since` (sweep and backfill findings left out)."""
    rows = session.execute(select(EventRecord.platform, EventRecord.status, func.count())
                           .where(*_recent(session, EventRecord, EventRecord.received_at, since),
                                  EventRecord.source.not_in(WEBHOOK_SOURCES_NOT))
                           .group_by(EventRecord.platform, EventRecord.status))
    return Counter({(platform, status): n for platform, status, n in rows})


def speeds(session: Session, since: dt.datetime) -> dict[str, list[float]]:
    """platform -> seconds from the CRM's create time to the owner written, for route decisions since `since`."""
    rows = session.execute(select(Tenant.platform, Decision.inputs["written_at"].as_string(),
                                  Decision.inputs["crm_created_at"].as_string())
                           .select_from(Decision).join(Tenant, Tenant.id == Decision.tenant_id)
                           .where(*_recent(session, Decision, Decision.created_at, since), Decision.kind == "route",
                                  Decision.outcome != RESTORED))  # a record an undo re-created: no new lead
    found: dict[str, list[float]] = {}
    for platform, written, created in rows:
        try:
            seconds = (aware(written) - aware(created)).total_seconds() if written and created else None
        except (TypeError, ValueError):  # not as the pipeline writes them (isoformat, with offset): not measurable
            seconds = None
        if seconds is not None:
            found.setdefault(platform, []).append(max(0.0, seconds))
    return found


def breaches(session: Session, since: dt.datetime) -> Counter:
    """platform -> SLA breaches recorded since `since`."""
    rows = session.execute(select(Tenant.platform, func.count()).select_from(Decision)
                           .join(Tenant, Tenant.id == Decision.tenant_id)
                           .where(*_recent(session, Decision, Decision.created_at, since), Decision.kind == "sla",
                                  Decision.outcome == "breached").group_by(Tenant.platform))
    return Counter(dict(rows.all()))


def open_reviews(session: Session) -> Counter:
    """(platform, kind) -> open review items (the review queue: small, one row per thing a human must decide)."""
    rows = session.execute(select(Tenant.platform, ReviewItem.kind, func.count())
                           .select_from(ReviewItem).join(Tenant, Tenant.id == ReviewItem.tenant_id)
                           .where(ReviewItem.status == "open")
                           .group_by(Tenant.platform, ReviewItem.kind))
    return Counter({(platform, kind): n for platform, kind, n in rows})


def job_failures(redis: Redis, queue: str) -> Counter:
    """job name -> jobs in the queue's failed registry (RQ keeps them for the job's failure_ttl, 14 days)."""
    registry = get_queue(queue, redis).failed_job_registry
    total = registry.count
    ids = registry.get_job_ids(0, FAILED_NAMED - 1)
    names = Counter(_job_name(job) for job in Job.fetch_many(ids, connection=redis) if job is not None)
    if total > sum(names.values()):
        names["other"] += total - sum(names.values())
    return names


def _job_name(job: Job) -> str:
    func_name = job.func_name or ""
    return func_name.removeprefix(JOB_PREFIX) if func_name.startswith(JOB_PREFIX) else func_name


class LeadRelayCollector(Collector):
    """Every LeadRelay series, read when Prometheus scrapes. `rate_limits(platform)` gives an adapter's RATE_LIMITS
    (integration/ never imports adapters)."""

    def __init__(self, database_url: str, redis: Redis | None, rate_limits: RateLimits,
                 thresholds: Mapping[str, float] | None = None,
                 reserves_for: Callable[[str], Mapping[str, float]] | None = None) -> None:
        self.database_url, self.redis, self.rate_limits = database_url, redis, rate_limits
        self.thresholds = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
        self.reserves_for = reserves_for or (lambda _platform: {})

    def collect(self) -> Iterator[Any]:
        now = dt.datetime.now(dt.UTC)
        up = GaugeMetricFamily("leadrelay_up", "1 when the scrape could read this part", labels=["part"])
        tenants: list[tuple[int, str]] = []
        try:
            with session_scope(self.database_url) as session:
                yield from self._database(session, now - WINDOW)
                tenants = [tuple(r) for r in session.execute(select(Tenant.id, Tenant.platform)
                                                             .where(Tenant.status == TenantStatus.ACTIVE))]
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics.database-unreadable", extra={"error": type(exc).__name__})
            up.add_metric(["database"], 0)
        try:
            if self.redis is None:
                raise RedisError("no Redis configured")
            yield from self._redis(self.redis, now, tenants)
            up.add_metric(["redis"], 1)
        except RedisError as exc:
            log.warning("metrics.redis-unreadable", extra={"error": type(exc).__name__})
            up.add_metric(["redis"], 0)
        yield up

    def _database(self, session: Session, since: dt.datetime) -> Iterator[Any]:
        received = GaugeMetricFamily("leadrelay_webhooks_received", "Webhook events received in the last hour, by "
                                     "platform and their outcome now", labels=["platform", "outcome"])
        for (platform, status), n in sorted(webhooks(session, since).items()):
            received.add_metric([platform, status], n)
        yield received
        speed = HistogramMetricFamily("leadrelay_speed_to_owner_seconds", "CRM create time to owner written, "
                                      "route decisions of the last hour", labels=["platform"])
        for platform, values in sorted(speeds(session, since).items()):
            buckets = [(str(le), sum(v <= le for v in values)) for le in SPEED_BUCKETS]
            speed.add_metric([platform], buckets + [("+Inf", len(values))], sum(values))
        yield speed
        breached = GaugeMetricFamily("leadrelay_sla_breaches", "SLA breaches recorded in the last hour",
                                     labels=["platform"])
        for platform, n in sorted(breaches(session, since).items()):
            breached.add_metric([platform], n)
        yield breached
        review = GaugeMetricFamily("leadrelay_review_open", "Open review items", labels=["platform", "kind"])
        for (platform, kind), n in sorted(open_reviews(session).items()):
            review.add_metric([platform, kind], n)
        yield review

    def _redis(self, redis: Redis, now: dt.datetime, tenants: list[tuple[int, str]]) -> Iterator[Any]:
        depth = GaugeMetricFamily("leadrelay_queue_jobs", "Jobs per queue and state", labels=["queue", "state"])
        for queue, states in queue_depths(redis).items():
            for state, n in states.items():
                depth.add_metric([queue, state], n)
        yield depth
        age = GaugeMetricFamily("leadrelay_queue_oldest_job_age_seconds", "How long the oldest waiting job of the "
                                "queue has waited (0 when empty)", labels=["queue"])
        for queue, seconds in queue_lag(redis, now, QUEUES).items():
            age.add_metric([queue], seconds)
        yield age
        failed = GaugeMetricFamily("leadrelay_job_failures", "Jobs in RQ's failed registry, by job name",
                                   labels=["queue", "job"])
        for queue in QUEUES:
            for name, n in sorted(job_failures(redis, queue).items()):
                failed.add_metric([queue, name], n)
        yield failed
        yield GaugeMetricFamily("leadrelay_workers", "RQ workers registered in Redis",
                                value=Worker.count(connection=redis))
        yield from self._budgets(redis, now, tenants)

    def _budgets(self, redis: Redis, now: dt.datetime, tenants: list[tuple[int, str]]) -> Iterator[Any]:
        left = GaugeMetricFamily("leadrelay_rate_budget_remaining", "CRM calls a tenant's budget allows now",
                                 labels=["tenant", "platform", "bucket"])
        share = GaugeMetricFamily("leadrelay_rate_budget_remaining_ratio", "Share of the budget's window left (0-1)",
                                  labels=["tenant", "platform", "bucket"])
        by_class = GaugeMetricFamily("leadrelay_rate_budget_class_remaining", "CRM calls each work class may make "
                                     "now: what is left above the share it leaves to higher classes",
                                     labels=["tenant", "platform", "bucket", "class"])
        waited = GaugeMetricFamily("leadrelay_rate_budget_waits", "Calls that waited for the budget in the last "
                                   f"{WAITS_WINDOW // 60} minutes, by work class", labels=["tenant", "platform",
                                                                                           "bucket", "class"])
        for tenant_id, platform in tenants:
            reserves = self.reserves_for(platform)
            waits = read_waits(redis, tenant_id, now.timestamp())
            for budget in read_budgets(redis, tenant_id, self.rate_limits(platform), now.timestamp()):
                labels = [str(tenant_id), platform, budget.bucket]
                left.add_metric(labels, budget.left)
                share.add_metric(labels, budget.percent / 100)
                for work_class in WORK_CLASSES:
                    floor = share_floor(work_class, budget.bucket, self.thresholds, reserves)
                    by_class.add_metric([*labels, work_class], budget.left_for(floor))
                    waited.add_metric([*labels, work_class], waits.get((budget.bucket, work_class), 0))
        yield left
        yield share
        yield by_class
        yield waited
