"""Issue 14 (E): Pipedrive's daily token budget used up, end to end against the sandbox with a tiny budget.

Pipedrive answers every call 429 until its budget resets at midnight (server time); the 429's burst headers
(x-ratelimit-*) still say the 2-second window has room, so a client that waits x-ratelimit-reset asks again every
second or two until midnight. LeadRelay recognises the budget's 429 (x-daily-ratelimit-token-remaining below the
call's cost), puts the drain off until the reset with the reason on the waiting events and the health page, and
calls Pipedrive no more before then, however many webhooks arrive meanwhile.
"""
from __future__ import annotations

import datetime as dt

from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select

from adapters.pipedrive.adapter import PipedriveAdapter
from integration.admin.health import tenant_health
from integration.db import session_scope
from integration.intake.backfill import backfill_tenant
from integration.intake.events import enqueue_drain, record_events
from integration.intake.sweep import sweep_tenant
from integration.models import EventRecord, Tenant
from integration.queues import INTAKE, QUEUES, SWEEP
from integration.ratelimit import read_budgets
from integration.records import Event, EventKind, ObjectType
from tests.console_helpers import add_members, sign_in
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_pipeline_flow import OWNERS, RULES
from tests.workers import BurstWorker


def next_midnight_utc() -> dt.datetime:
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


class Company:
    """The sandbox company LeadRelay is installed into, seen through the control API and its own token."""

    def __init__(self, server, account: dict) -> None:
        self.server, self.account, self.http = server, account, browser(server)
        self.base = f"{server.url}/_sandbox/accounts/{account['account_id']}"

    def create_person(self, name: str) -> str:
        email = name.lower().replace(" ", ".") + "@" + name.split()[1].lower() + ".example"
        made = self.http.post(f"{self.base}/simulate", json={
            "action": "create", "object_type": "persons", "properties": {
                "name": name, "emails": [{"value": email, "primary": True}]}}, timeout=10)
        made.raise_for_status()
        return str(made.json()["id"])

    def tokens_used_today(self) -> int:
        """From the budget headers of one v2 read (1 token) made with the company's own token."""
        resp = self.http.get(f"{self.account['api_base']}/api/v2/persons/1",
                             headers={"Authorization": f"Bearer {self.account['access_token']}"}, timeout=10)
        return int(resp.headers["x-daily-ratelimit-token-limit"]) - int(
            resp.headers["x-daily-ratelimit-token-remaining"])

    def calls(self) -> list[dict]:
        return self.http.get(f"{self.base}/calls", timeout=10).json()["calls"]


def _installed_with_three_new_leads(app, crm_env, crm_sandbox) -> tuple[int, Company, Redis, list[str]]:
    """LeadRelay installed into a sandbox company whose budget has 10 tokens left (one v2 batch read) and three
    new leads waiting for the drain."""
    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "pipedrive",
                                            RULES, "Budget Co", OWNERS)
    redis = Redis.from_url(crm_env["REDIS_URL"])
    for name in QUEUES:  # the install's follow-up jobs (and its first sweep, planned for later) are not under test
        Queue(name, connection=redis).empty()
        planned = ScheduledJobRegistry(name, connection=redis)
        for job_id in planned.get_job_ids():
            planned.remove(job_id, delete_job=True)
    company = Company(crm_sandbox, account)
    leads = [company.create_person(name) for name in ("Grace Hopper", "Ada Lovelace", "Alan Turing")]
    # what the install and the probe spent, plus one v2 batch read (10 tokens): the next call finds the budget spent
    budget = company.tokens_used_today() + 1 + 10
    crm_sandbox.sandbox.config.update({"limits": {"pipedrive": {"daily_tokens": budget}}})
    with session_scope(crm_env["DATABASE_URL"]) as s:
        company_id = s.scalar(select(Tenant.external_id).where(Tenant.id == tenant_id))
        record_events(s, tenant_id, [Event(platform="pipedrive", account_id=company_id, object_type=ObjectType.CONTACT,
                                           object_id=lead, kind=EventKind.CREATED, occurred_at=dt.datetime.now(dt.UTC),
                                           event_id=f"budget-{lead}", source="app:1") for lead in leads])
    return tenant_id, company, redis, leads


def test_a_used_up_daily_budget_puts_the_work_off_until_the_reset_with_the_reason(app, crm_env, crm_sandbox):
    tenant_id, company, redis, leads = _installed_with_three_new_leads(app, crm_env, crm_sandbox)
    calls_before = len(company.calls())
    enqueue_drain(tenant_id, force=True)
    BurstWorker([INTAKE], connection=redis).work(burst=True)

    made = company.calls()[calls_before:]
    assert [c["status"] for c in made] == [200, 429]  # the batch read, then one refused call: no retry storm
    reset = next_midnight_utc()
    with session_scope(crm_env["DATABASE_URL"]) as s:
        waiting = s.scalars(select(EventRecord).where(EventRecord.tenant_id == tenant_id)).all()
        assert {(e.object_id, e.status) for e in waiting} == {(lead, "waiting") for lead in leads}
        reason = waiting[0].error
    assert "daily API token budget is used up" in reason and f"until {reset:%Y-%m-%d} 00:01 UTC" in reason

    later = _scheduled_drain(redis, tenant_id)
    assert abs((later - (reset + dt.timedelta(minutes=1))).total_seconds()) < 5  # at the reset, not in seconds

    # a webhook arrives meanwhile: its drain runs, asks Pipedrive nothing, and the drain stays put off
    enqueue_drain(tenant_id, force=True)
    BurstWorker([INTAKE], connection=redis).work(burst=True)
    assert len(company.calls()) == calls_before + 2
    assert _scheduled_drain(redis, tenant_id) == later

    (daily,) = [b for b in read_budgets(redis, tenant_id, PipedriveAdapter.RATE_LIMITS) if b.bucket == "daily"]
    assert daily.held_until and abs(daily.held_until - later.timestamp()) < 5 and daily.left == 0
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant = s.get(Tenant, tenant_id)
        health = tenant_health(s, redis, [tenant], lambda _p: PipedriveAdapter.RATE_LIMITS,
                               dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11), 300)[tenant_id]
    texts = {r.code: r.text for r in health.reasons}
    assert f"until {reset:%Y-%m-%d} 00:01 UTC" in texts["budget-exhausted:daily"]
    assert "allowance is used up" in texts["events-held"] and "events-waiting" not in texts
    with session_scope(crm_env["DATABASE_URL"]) as s:
        admin = add_members(s, tenant_id, {"budget-admin": "admin"})["budget-admin"]
    page = sign_in(app, admin).get(f"/console/tenants/{tenant_id}/health").get_data(as_text=True)
    assert f"it refuses every call until {reset:%Y-%m-%d} 00:01 UTC" in page  # what the admin reads


def _scheduled_drain(redis: Redis, tenant_id: int) -> dt.datetime:
    return _scheduled(redis, INTAKE, f"drain-{tenant_id}-later")


def _scheduled(redis: Redis, queue: str, prefix: str) -> dt.datetime:
    registry = ScheduledJobRegistry(queue, connection=redis)
    (job_id,) = [j for j in registry.get_job_ids() if j.startswith(prefix)]
    return registry.get_scheduled_time(job_id)


def test_the_sweep_and_the_backfill_wait_for_the_reset_too_without_calling_pipedrive(app, crm_env, crm_sandbox):
    tenant_id, company, redis, _leads = _installed_with_three_new_leads(app, crm_env, crm_sandbox)
    enqueue_drain(tenant_id, force=True)
    BurstWorker([INTAKE], connection=redis).work(burst=True)  # the budget's 429: held until the reset
    calls = len(company.calls())
    sweep_tenant.enqueue(tenant_id, job_id=f"sweep-{tenant_id}-now")
    backfill_tenant.enqueue(tenant_id, job_id=f"backfill-{tenant_id}-now")
    BurstWorker([SWEEP], connection=redis).work(burst=True)
    assert len(company.calls()) == calls  # neither asked Pipedrive
    reset = next_midnight_utc() + dt.timedelta(minutes=1)
    for prefix in (f"sweep-{tenant_id}-next", f"backfill-{tenant_id}-now-after-reset"):
        assert abs((_scheduled(redis, SWEEP, prefix) - reset).total_seconds()) < 5, prefix
    assert FailedJobRegistry(SWEEP, connection=redis).count == 0  # put off, not failed and retried into the 429


def test_the_budget_429_is_told_apart_from_the_burst_429_by_its_headers(crm_sandbox):
    """The sandbox answers what the live API answers: burst headers about the 2 s window, the budget's own."""
    account = browser(crm_sandbox).post(f"{crm_sandbox.url}/_sandbox/accounts", json={
        "platform": "pipedrive", "name": "Headers", "users": []}, timeout=10).json()
    http, auth = browser(crm_sandbox), {"Authorization": f"Bearer {account['access_token']}"}
    crm_sandbox.sandbox.config.update({"limits": {"pipedrive": {"daily_tokens": 12}}})
    try:
        ok = http.get(f"{account['api_base']}/api/v2/persons", headers=auth, timeout=10)
        refused = http.get(f"{account['api_base']}/api/v2/persons/search?term=ab", headers=auth, timeout=10)
    finally:
        crm_sandbox.sandbox.config.reset()
    assert ok.status_code == 200 and ok.headers["x-daily-ratelimit-token-remaining"] == "2"
    assert refused.status_code == 429 and refused.json()["error"] == "Request over limit"
    assert refused.headers["x-daily-ratelimit-token-limit"] == "12"
    assert refused.headers["x-daily-ratelimit-token-remaining"] == "2"  # less than the search's 20 tokens
    assert int(refused.headers["x-ratelimit-remaining"]) > 0 and "Retry-After" not in refused.headers
