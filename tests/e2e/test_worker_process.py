"""The parts move: web → Redis → a separate worker process → database; failures retried, then kept."""
from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.e2e.flaky_jobs import always_fails

pytestmark = pytest.mark.e2e


def test_a_web_request_is_completed_by_a_separate_worker_process(client, worker_process):
    created = client.post("/api/v1/diagnostics/probes")
    assert created.status_code == 202
    status = wait_for(lambda: (r := client.get(created.json["status_url"]).json)["done"] and r,
                      what="the probe to complete")
    assert status["completed_at"] >= status["requested_at"]
    conn = Redis.from_url(client.application.config["LEADRELAY_SETTINGS"].redis_url)
    assert status["worker"] in {w.name for w in Worker.all(connection=conn)}


def test_a_failing_job_is_retried_with_backoff_then_kept_in_the_failed_registry(env, worker_process):
    job = always_fails.enqueue(42, "lead-7")
    assert job.meta["tenant_id"] == 42
    conn = Redis.from_url(env["REDIS_URL"])
    registry = Queue("intake", connection=conn).failed_job_registry
    wait_for(lambda: job.id in registry.get_job_ids(), timeout=40, what="the job to land in the failed registry")

    attempts = [float(t) for t in conn.lrange("attempts:lead-7", 0, -1)]
    assert len(attempts) == 3  # the first try and 2 retries
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9  # 1 s, then 2 s: exponential backoff
    failed = Job.fetch(job.id, connection=conn)
    assert failed.get_status() == JobStatus.FAILED
    assert failed.retries_left == 0
    assert "CRM answered 503 for lead-7" in failed.latest_result().exc_string


def test_worker_processes_option_runs_that_many_and_replaces_one_that_dies(env, app):
    import os
    import signal

    conn = Redis.from_url(env["REDIS_URL"])
    supervisor = start_worker(env, "--processes", "2")
    try:
        workers = wait_for(lambda: len(ws := Worker.all(connection=conn)) == 2 and ws, what="two workers")
        victim = workers[0].pid
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in {w.pid for w in Worker.all(connection=conn)}
                 and len(Worker.all(connection=conn)) >= 2 or _drop_dead(conn, victim), timeout=40,
                 what="a replacement worker")
        pids = {w.pid for w in Worker.all(connection=conn)}
        assert victim not in pids and len(pids) == 2
    finally:
        stop_worker(supervisor)


def _drop_dead(conn, pid: int) -> bool:
    """A SIGKILLed worker cannot unregister itself; clean its stale entry like RQ's maintenance does."""
    for w in Worker.all(connection=conn):
        if w.pid == pid:
            w.register_death()
    return False
