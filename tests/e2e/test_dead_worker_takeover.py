"""A worker process SIGKILLed (a host that dies) leaves RQ's scheduler lock and the job it was running behind; the
workers left take both over in about a minute, not after the dead job's timeout or RQ's 405 s idle wait (worker.py)."""
from __future__ import annotations

import os
import signal

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.e2e.flaky_jobs import note_run, stuck_first_time

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
# A dead worker's scheduler lock expires 61 s after its last refresh, a dead job's heartbeat about 70 s after its
# last one, and the workers left look every 15 s: 150 s is ample, and well short of what either took before.
TAKEOVER = 150


def _kill(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _workers_of(conn: Redis, proc) -> list[Worker]:
    return [w for w in Worker.all(connection=conn) if w.pid and _group(w.pid) == proc.pid]


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_an_idle_worker_takes_over_the_scheduler_of_a_killed_one(env, app):
    conn = Redis.from_url(env["REDIS_URL"])
    first = start_worker(env)
    try:
        wait_for(lambda: conn.exists("rq:scheduler-lock:intake") or first.poll() is not None, timeout=60,
                 what="the first worker to hold the scheduler lock")
        assert first.poll() is None
        second = start_worker(env)
    except BaseException:
        stop_worker(first)
        raise
    try:
        wait_for(lambda: _workers_of(conn, second), timeout=60, what="the second worker")
        _kill(first)
        job = note_run.enqueue(None, "after-the-death", delay=1)  # only a scheduler moves it to its queue
        wait_for(lambda: conn.llen("ran:after-the-death") == 1, timeout=TAKEOVER,
                 what="the second worker's scheduler to run the delayed job")
        assert Job.fetch(job.id, connection=conn).get_status() == JobStatus.FINISHED
    finally:
        log = stop_worker(second)
    assert Queue("intake", connection=conn).failed_job_registry.count == 0, log[-3000:]


def test_a_job_a_killed_worker_was_running_is_run_again(env, app):
    conn = Redis.from_url(env["REDIS_URL"])
    first = start_worker(env)
    try:
        job = stuck_first_time.enqueue(None, "killed-mid-job")
        wait_for(lambda: conn.llen("attempts:killed-mid-job") == 1, timeout=60, what="the first attempt")
    finally:
        _kill(first)
    second = start_worker(env)
    try:
        wait_for(lambda: Job.fetch(job.id, connection=conn).get_status() == JobStatus.FINISHED, timeout=TAKEOVER,
                 what="the abandoned job to be run again")
    finally:
        log = stop_worker(second)
    assert conn.llen("attempts:killed-mid-job") == 2, log[-3000:]
    intake = Queue("intake", connection=conn)
    assert intake.started_job_registry.count == 0 and intake.failed_job_registry.count == 0
