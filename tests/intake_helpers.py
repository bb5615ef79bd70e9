"""Intake endpoint test helpers: tenants with intake keys, signed requests, what the intake queue holds."""
from __future__ import annotations

import time

from redis import Redis
from rq import Queue

from integration.db import session_scope
from integration.models import Tenant
from marketplace import intake_keys


def tenant_with_key(database_url: str, name: str = "Acme", status: str = "active", **options) -> dict:
    """A tenant and its working intake key: {"tenant", "key", "secret", "key_id", "url"}."""
    with session_scope(database_url) as s:
        tenant = Tenant(platform="hubspot", external_id=f"{name}-{time.monotonic_ns()}", name=name, status=status)
        s.add(tenant)
        s.flush()
        row = intake_keys.ensure_key(s, tenant.id)
        row.allowed_origins = options.get("origins", [])
        row.field_aliases = options.get("aliases", {})
        revealed = intake_keys.reveal(row)
        return {"tenant": tenant.id, "key": revealed.key, "secret": revealed.secret, "key_id": row.id,
                "url": f"/intake/v1/{revealed.key}/submissions"}


def signed(secret: str, body: bytes, when: int | None = None) -> dict[str, str]:
    return {"X-LeadRelay-Signature": intake_keys.signature_header(secret, body, int(time.time()) if when is None
                                                                  else when)}


def queued_submissions(redis_url: str) -> list[tuple]:
    """(job name, args) of every job waiting on the intake queue."""
    return [(job.func_name, job.args) for job in Queue("intake", connection=Redis.from_url(redis_url)).jobs]
