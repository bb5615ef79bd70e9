"""The CRM's users of a tenant, cached in Redis for every worker: one CRM call per tenant per USERS_TTL."""
from __future__ import annotations

import json
from typing import Any

from integration.protocols import CRMAdapter
from integration.records import CRMUser

USERS_TTL = 300  # a user deactivated in the CRM stops getting leads within five minutes


def cached_users(redis: Any, tenant_id: int, adapter: CRMAdapter) -> list[CRMUser]:
    """The tenant's CRM users from the shared cache, else from the CRM (then cached)."""
    key = f"leadrelay:users:{tenant_id}"
    cached = redis.get(key)
    if cached:
        return [CRMUser(**u) for u in json.loads(cached)]
    users = adapter.list_users()
    redis.set(key, json.dumps([u.__dict__ for u in users]), ex=USERS_TTL)
    return users
