"""A real `leadrelay worker` OS process against the test Redis and database."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from redis import Redis
from rq import Worker

from tests.conftest import ROOT


def demo_env(var_dir) -> dict[str, str]:
    """The environment for a `leadrelay demo` subprocess with its own var dir: no database, Redis or demo clock of
    the test run's (the demo brings its own)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "LEADRELAY_TIME_SCALE")}
    env.update(LEADRELAY_VAR_DIR=str(var_dir), LEADRELAY_LOG_FORMAT="text")
    return env


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen:
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "leadrelay", "worker", *args], env=child_env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(check, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop_worker(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
    return proc.stdout.read().decode(errors="replace") if proc.stdout else ""


@pytest.fixture()
def worker_process(env, app):
    """One worker process (the app fixture has applied migrations first)."""
    proc = start_worker(env)
    conn = Redis.from_url(env["REDIS_URL"])
    wait_for(lambda: Worker.count(connection=conn) >= 1 or proc.poll() is not None, what="the worker to register")
    assert proc.poll() is None, stop_worker(proc)
    yield proc
    stop_worker(proc)
