"""One tenant's work in one job or drain batch, which every stage takes: the open session, the tenant's adapter,
its published rules, its CRM users (read once), the routing pools' state, the clock and the planner of later jobs.

A leaf below pipeline/ and followup/: both take a `Work` (the pipeline a `Batch`, a Work with its router), so
neither needs the other's types, and a job builds one with `work_for_job`.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.crm.account_owners import AccountOwners
from integration.crm.users import cached_users
from integration.crm.wiring import adapter_for
from integration.jobs import resolve
from integration.models import Tenant, utcnow
from integration.protocols import CRMAdapter
from integration.queues import redis_connection
from integration.records import CRMUser
from integration.routing.redis_state import RedisPoolState
from integration.routing.state import PoolState
from integration.rules.model import RuleSet
from integration.rules.published import published_rules

# plan(job name, tenant id, args, at, job id): run a job later (by its stable name, integration.jobs)
Planner = Callable[[str, int, tuple, dt.datetime, str], Any]


def clock() -> dt.datetime:
    """Now, for SLA clocks, checks, escalations and cadences (the default `Work.now`). End-to-end tests
    monkeypatch this one function to a chosen moment (a Friday evening) instead of faking the system clock."""
    return utcnow()


def _clock() -> dt.datetime:
    return clock()  # looked up at call time, so a patched `clock` is seen by every Work


def enqueue_at(name: str, tenant_id: int, args: tuple, at: dt.datetime, job_id: str) -> Any:
    """The production planner: the job `name` as an RQ job at `at` with a deterministic id (coalesced while
    pending)."""
    return resolve(name).enqueue(tenant_id, *args, at=at, job_id=job_id)


def route_key(object_type: str, object_id: str) -> str:
    """The idempotency key of a lead's route decision: one per record, ever."""
    return f"route:{object_type}:{object_id}"


@dataclass
class Work:
    session: Session
    tenant_id: int
    adapter: CRMAdapter
    rules: RuleSet | None
    users: Callable[[], list[CRMUser]]  # the CRM's users, read once per job (crm.users caches them for all workers)
    pool_state: PoolState | None = None
    plan: Planner = enqueue_at
    now: Callable[[], dt.datetime] = _clock
    redis: Any = None  # for the tenant's shared caches (account owners); None where a test needs none
    _by_id: dict[str, CRMUser] | None = field(default=None, repr=False)

    @property
    def tenant(self) -> Tenant | None:
        return self.session.get(Tenant, self.tenant_id)

    @functools.cached_property
    def accounts(self) -> AccountOwners:
        """Company owners by domain (the account-owner rule): this work's answers, then Redis, then the CRM."""
        return AccountOwners(self.adapter, self.redis, self.tenant_id)

    def user(self, user_id: str | None) -> CRMUser | None:
        if self._by_id is None:
            self._by_id = {u.id: u for u in self.users()}
        return self._by_id.get(str(user_id)) if user_id else None

    def user_by_email(self, email: str | None) -> CRMUser | None:
        return next((u for u in self.users() if email and u.email.lower() == email.lower()), None)

    def email_of(self, user_id: str | None) -> str | None:
        """The email of an active CRM user (lower case), else None."""
        user = self.user(user_id)
        return user.email.lower() if user and user.active else None


def work_for(session: Session, tenant_id: int, adapter: CRMAdapter | None = None, kind: type[Work] = Work) -> Work:
    """The tenant's Work (or a subclass of it: `kind`), with its published rules (None when none are)."""
    redis = redis_connection(get_settings())
    adapter = adapter or adapter_for(tenant_id)
    users = functools.cache(functools.partial(cached_users, redis, tenant_id, adapter))  # one read per job
    return kind(session, tenant_id, adapter, published_rules(session, tenant_id), users,
                RedisPoolState(redis, tenant_id), redis=redis)


def work_for_job(session: Session, tenant_id: int) -> Work | None:
    """The Work for a job (None when the tenant is gone or has no published rules: nothing to do)."""
    if session.get(Tenant, tenant_id) is None:
        return None
    work = work_for(session, tenant_id)
    return work if work.rules is not None else None
