"""The job decorator: ids, coalescing, tenant meta, retries; run by an RQ worker in burst mode."""
from __future__ import annotations

from redis import Redis
from rq import Queue

from integration.admin.diagnostics import complete_probe, probe_status, request_probe
from integration.jobs import backoff, job_key
from tests.workers import BurstWorker


def test_job_keys_are_valid_rq_ids_and_distinct():
    assert job_key("route", 7, "contact-51") == "route-7-contact-51"
    a, b = job_key("route:7:contact/51"), job_key("route_7_contact_51")
    assert a != b and all(c.isalnum() or c in "-_" for c in a)


def test_backoff_doubles():
    assert backoff(3, 10).intervals == [10, 20, 40]
    assert backoff(0, 10) is None


def test_same_job_id_while_pending_is_enqueued_once(env):
    conn = Redis.from_url(env["REDIS_URL"])
    first = complete_probe.enqueue(5, "tok", job_id="probe:tok")
    second = complete_probe.enqueue(5, "tok", job_id="probe:tok")
    assert first.id == second.id
    assert Queue("maintenance", connection=conn).count == 1
    assert first.meta == {"tenant_id": 5}


def test_burst_worker_completes_a_probe(env, app):
    probe = request_probe()
    assert probe_status(probe.token)["done"] is False
    conn = Redis.from_url(env["REDIS_URL"])
    BurstWorker(["maintenance"], connection=conn).work(burst=True)
    status = probe_status(probe.token)
    assert status["done"] is True and status["worker"]
