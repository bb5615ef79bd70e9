"""Jobs for the end-to-end tests, importable by a real worker process (PYTHONPATH=repo root)."""
from __future__ import annotations

import time

from redis import Redis

from integration.config import get_settings
from integration.jobs import job
from integration.queues import INTAKE


@job(INTAKE, name=None, timeout=10, retries=2, require_active=False)  # stored by its path: the worker imports it
def always_fails(tenant_id: int, key: str) -> None:
    """Record each attempt's time in Redis, then fail like a CRM outage would."""
    Redis.from_url(get_settings().redis_url).rpush(f"attempts:{key}", time.time())
    raise RuntimeError(f"CRM answered 503 for {key}")


@job(INTAKE, name=None, timeout=300, retries=2, require_active=False)
def stuck_first_time(tenant_id: int, key: str) -> str:
    """Record each attempt; the first one hangs (its worker is killed meanwhile), a later one completes."""
    attempts = Redis.from_url(get_settings().redis_url).rpush(f"attempts:{key}", time.time())
    if attempts == 1:
        time.sleep(600)
    return "done"


@job(INTAKE, name=None, timeout=10, retries=0, require_active=False)
def note_run(tenant_id: int, key: str) -> None:
    Redis.from_url(get_settings().redis_url).rpush(f"ran:{key}", time.time())
