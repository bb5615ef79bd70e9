"""/metrics: who may scrape it, and each series read back from data the app keeps (database and Redis)."""
from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue

from integration.db import session_scope
from integration.jobs import job
from integration.models import Decision, EventRecord, ReviewItem, SlaTimer, Tenant
from integration.queues import MAINTENANCE
from integration.ratelimit import RedisRateBudget
from tests.workers import BurstWorker

TOKEN = "metrics-token-for-tests"


@job(MAINTENANCE, name=None, retries=0)
def explode(tenant_id: int | None) -> None:
    raise RuntimeError("this job fails on purpose")


def samples(resp) -> dict[tuple[str, frozenset], float]:
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True)) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


@pytest.fixture()
def token_app(env, monkeypatch):
    monkeypatch.setenv("LEADRELAY_METRICS_TOKEN", TOKEN)
    from app import create_app

    return create_app({"TESTING": True})


def test_with_a_token_set_only_its_bearer_may_scrape(token_app):
    client = token_app.test_client()
    assert client.get("/metrics").status_code == 401  # a local caller too
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    remote = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert value(samples(remote), "leadrelay_up", part="database") == 1


def test_without_a_token_local_callers_only(client):
    assert value(samples(client.get("/metrics")), "leadrelay_up", part="redis") == 1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    # a proxy nobody told the app about makes every caller look local: not believed
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def _world(database_url: str) -> int:
    now = dt.datetime.now(dt.UTC)
    with session_scope(database_url) as s:
        tenant = Tenant(platform="hubspot", external_id="metrics-1", name="Acme")
        s.add(tenant)
        s.flush()
        tid = tenant.id
        for n, (status, source) in enumerate([("processed", "webhook"), ("processed", "webhook"),
                                              ("failed", "webhook"), ("received", "sweep")]):
            s.add(EventRecord(tenant_id=tid, dedup_key=f"e{n}", platform="hubspot", object_type="contact",
                              object_id=str(n), kind="created", source=source, occurred_at=now, status=status))
        for n, (seconds, age) in enumerate([(0.3, 0), (4.0, 0), (1.0, 7200)]):  # the last one: before the window
            created = now - dt.timedelta(seconds=age)
            s.add(Decision(tenant_id=tid, idempotency_key=f"route:{n}", kind="route", object_type="contact",
                           object_id=str(n), outcome="owner-1", reason="r", created_at=created,
                           inputs={"written_at": created.isoformat(),
                                   "crm_created_at": (created - dt.timedelta(seconds=seconds)).isoformat()}))
        s.add(Decision(tenant_id=tid, idempotency_key="route:restored", kind="route", object_type="contact",
                       object_id="9", outcome="restored", reason="r",  # an undo re-created it: no new lead
                       inputs={"written_at": now.isoformat(), "crm_created_at": now.isoformat()}))
        s.add(Decision(tenant_id=tid, idempotency_key="sla:0:breach", kind="sla", object_type="contact",
                       object_id="0", outcome="breached", reason="r"))
        s.add(SlaTimer(tenant_id=tid, key="sla:0", object_type="contact", object_id="0", policy="hot",
                       due_at=now, status="breached"))
        s.add(ReviewItem(tenant_id=tid, kind="duplicate", object_type="contact", object_id="1", reason="r"))
        s.add(ReviewItem(tenant_id=tid, kind="duplicate", object_type="contact", object_id="2", reason="r",
                         status="resolved"))
    return tid


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, env, monkeypatch) -> str:
    """The app's database: the env's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgres":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("postgres_url"))
    return os.environ["DATABASE_URL"]


def test_each_series_reads_what_the_app_keeps(database, env):
    from app import create_app

    client = create_app({"TESTING": True}).test_client()
    tid = _world(database)
    redis = Redis.from_url(env["REDIS_URL"])
    explode.enqueue(None, job_id="explode-1", connection=redis)
    BurstWorker([MAINTENANCE], connection=redis).work(burst=True)
    waiting = Queue("sla", connection=redis).enqueue("integration.jobs.check_sla", 1, job_id="waiting-1")
    waiting.enqueued_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    waiting.save()
    RedisRateBudget(redis, tid, {"default": (100, 10.0)}).exhausted("default", time.time() + 3600)

    found = samples(client.get("/metrics"))

    assert value(found, "leadrelay_webhooks_received", platform="hubspot", outcome="processed") == 2
    assert value(found, "leadrelay_webhooks_received", platform="hubspot", outcome="failed") == 1
    assert ("leadrelay_webhooks_received", frozenset({("platform", "hubspot"), ("outcome", "received")})) \
        not in found  # a sweep finding is no webhook
    assert value(found, "leadrelay_speed_to_owner_seconds_count", platform="hubspot") == 2
    assert value(found, "leadrelay_speed_to_owner_seconds_bucket", platform="hubspot", le="0.5") == 1
    assert value(found, "leadrelay_speed_to_owner_seconds_bucket", platform="hubspot", le="5.0") == 2
    assert value(found, "leadrelay_speed_to_owner_seconds_sum", platform="hubspot") == pytest.approx(4.3)
    assert value(found, "leadrelay_sla_breaches", platform="hubspot") == 1
    assert value(found, "leadrelay_review_open", platform="hubspot", kind="duplicate") == 1
    assert value(found, "leadrelay_job_failures", queue="maintenance", job="tests.test_metrics.explode") == 1
    assert value(found, "leadrelay_queue_jobs", queue="maintenance", state="failed") == 1
    assert value(found, "leadrelay_queue_jobs", queue="sla", state="queued") == 1
    assert value(found, "leadrelay_queue_oldest_job_age_seconds", queue="sla") >= 600
    assert value(found, "leadrelay_queue_oldest_job_age_seconds", queue="intake") == 0
    assert value(found, "leadrelay_rate_budget_remaining", tenant=str(tid), platform="hubspot", bucket="default") == 0
    assert value(found, "leadrelay_rate_budget_remaining", tenant=str(tid), platform="hubspot",
                 bucket="search") == pytest.approx(3.6)  # never used: full, 4 a second less the safety margin
    assert value(found, "leadrelay_workers") == 0


def test_the_readme_list_and_the_sample_dashboard_name_exported_series_only(client):
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    exported = {f.name for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    readme = root.joinpath("README.md").read_text()
    listed = set(re.findall(r"^\| `(leadrelay_\w+)`", readme[readme.index("### Metrics"):], re.MULTILINE))
    dashboard = json.loads(root.joinpath("docs/grafana-dashboard.json").read_text())
    used = {re.sub(r"_bucket$", "", n) for p in dashboard["panels"] for t in p["targets"]
            for n in re.findall(r"leadrelay_\w+", t["expr"])}
    assert listed == exported
    assert used <= exported
