"""The fixed list of RQ queues and the Redis connection they share."""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from redis import Redis
from redis.connection import parse_url
from redis.exceptions import RedisError
from redis.sentinel import MasterNotFoundError, Sentinel
from rq import Queue

if TYPE_CHECKING:  # handed in by every caller: queues stays beside config in the tiers, importing nothing of it
    from integration.config import Settings

# Priority order: a worker listening on all of them drains earlier queues first.
INTAKE = "intake"        # webhook events, drained per tenant through the whole pipeline (dedup, route, write back)
SLA = "sla"              # SLA checks and escalations at their due time
SWEEP = "sweep"          # per-tenant reconciliation of what webhooks missed
MAINTENANCE = "maintenance"  # installs, deletions, index rebuilds, diagnostics
QUEUES: tuple[str, ...] = (INTAKE, SLA, SWEEP, MAINTENANCE)

_connections: dict[tuple, Redis] = {}
_lock = threading.Lock()


class UnknownQueue(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown queue {name!r}; queues are: {', '.join(QUEUES)}")


def redis_connection(settings: Settings) -> Redis:
    """The one way to Redis (queues, locks, rate budgets, pool state, caches): one client per process for the
    settings' Redis, over TLS for rediss:// and to the sentinels' current master when sentinels are set (a
    forked child gets its own)."""
    key = (os.getpid(), settings.redis_url, settings.redis_ca_file, settings.redis_cert_file, settings.redis_key_file,
           settings.redis_sentinels, settings.redis_sentinel_service)
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            conn = _connections[key] = _connect(settings)
        return conn


def _tls(settings: Settings) -> dict:
    # certificate checking stays on: a managed Redis is reached over networks we do not own
    return {"ssl_cert_reqs": "required", "ssl_ca_certs": settings.redis_ca_file,
            "ssl_certfile": settings.redis_cert_file, "ssl_keyfile": settings.redis_key_file}


def _connect(settings: Settings) -> Redis:
    url = settings.redis_url or ""
    tls = _tls(settings) if url.startswith("rediss://") else {}
    if not settings.redis_sentinels:
        return Redis.from_url(url, health_check_interval=30, **tls)
    options = parse_url(url)
    auth = {name: options[name] for name in ("username", "password") if options.get(name)}
    # the sentinels are spoken to as the master is (TLS or not); they have no password of their own here
    ssl = {"ssl": True, **tls} if tls else {}
    sentinel = Sentinel(settings.redis_sentinels, socket_timeout=5, sentinel_kwargs={"socket_timeout": 5, **ssl})
    # a client of the master: on a failover its next command asks the sentinels again and reaches the new master
    return sentinel.master_for(settings.redis_sentinel_service, redis_class=Redis, db=options.get("db", 0),
                               health_check_interval=30, **auth, **ssl)


def redis_hint(exc: RedisError, settings: Settings) -> str:
    """What an operator should check when Redis cannot be used (the health page and /healthz show it)."""
    text = str(exc)
    if isinstance(exc, MasterNotFoundError):
        return (f"no sentinel of LEADRELAY_REDIS_SENTINELS names a reachable master for "
                f"{settings.redis_sentinel_service!r}: check the sentinels and LEADRELAY_REDIS_SENTINEL_SERVICE")
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ("Redis's TLS certificate is not trusted: set LEADRELAY_REDIS_CA_FILE to the CA that signed it "
                "(or check the one it names)")
    if "SSL" in text:
        return "the TLS handshake with Redis failed: check that the server speaks TLS on this port (rediss://)"
    return "check REDIS_URL and that Redis is up"


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
