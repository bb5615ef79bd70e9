"""The fixed list of RQ queues and the Redis connection they share."""
from __future__ import annotations

import os
import threading

from redis import Redis
from rq import Queue

# Priority order: a worker listening on all of them drains earlier queues first.
INTAKE = "intake"        # webhook events, drained per tenant through the whole pipeline (dedup, route, write back)
SLA = "sla"              # SLA checks and escalations at their due time
SWEEP = "sweep"          # per-tenant reconciliation of what webhooks missed
MAINTENANCE = "maintenance"  # installs, deletions, index rebuilds, diagnostics
QUEUES: tuple[str, ...] = (INTAKE, SLA, SWEEP, MAINTENANCE)

_connections: dict[tuple[int, str], Redis] = {}
_lock = threading.Lock()


class UnknownQueue(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown queue {name!r}; queues are: {', '.join(QUEUES)}")


def redis_connection(url: str) -> Redis:
    """One client per URL per process (a forked child gets its own)."""
    key = (os.getpid(), url)
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            conn = _connections[key] = Redis.from_url(url, health_check_interval=30)
        return conn


def get_queue(name: str, connection: Redis) -> Queue:
    if name not in QUEUES:
        raise UnknownQueue(name)
    return Queue(name, connection=connection)


def queue_depths(connection: Redis) -> dict[str, dict[str, int]]:
    """Waiting, scheduled, running and failed jobs per queue (for /healthz and the console)."""
    depths = {}
    for name in QUEUES:
        q = get_queue(name, connection)
        depths[name] = {
            "queued": q.count,
            "scheduled": q.scheduled_job_registry.count,
            "started": q.started_job_registry.count,
            "failed": q.failed_job_registry.count,
        }
    return depths
