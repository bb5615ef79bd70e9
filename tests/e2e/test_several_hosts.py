"""Several hosts for real (issue #21): worker "hosts" that share nothing but one Redis and one PostgreSQL — each
its own `leadrelay worker --processes N` process tree, working directory and LEADRELAY_VAR_DIR — route a burst of
leads from the three CRMs; one host is SIGKILLed mid-burst while it holds jobs and another joins. Every lead ends
owned exactly once: one route decision, that owner in the CRM, one SLA timer, and no lead with two SLA tasks (a task
lost to the kill, at most once, is a known gap: see _owned_once_with_one_task).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from integration.db import session_scope
from integration.intake.events import DRAIN_BATCH
from integration.models import RuleSetVersion, SlaTimer
from leadrelay.processes import _terminate_with_parent
from tests.conftest import ROOT, _free_port
from tests.e2e.conftest import wait_for
from tests.e2e.live_stack import ALL_QUEUES, PLATFORMS, RULES, live_stack_fixture  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# Leads per CRM. HubSpot's and Pipedrive's search limits (a duplicate search per new lead) set the pace of the
# burst under the sandbox's realistic profile; Salesforce (SOQL) has no burst limit and takes the most.
BURST = {"hubspot": 60, "salesforce": 150, "pipedrive": 60}
PROCESSES = 2  # worker processes per host
# Every lead with an email is hot, and a hot lead gets a first-touch task an hour out (no escalation: the test is
# over long before).
SLA_RULES = {**RULES, "scoring": {"rules": [{"when": {"has_email": True}, "points": 70}]},
             "sla": {"hot": {"first_touch": "1h", "business_hours": False}}}
TASK_OBJECT = {"hubspot": "tasks", "salesforce": "Task", "pipedrive": "activities"}


@pytest.fixture()
def shared_redis():
    """One real redis-server on a TCP port, the hosts' only shared Redis (not the one under a host's var dir)."""
    server = shutil.which("redis-server")
    if not server:
        pytest.skip("redis-server is not installed")
    directory = Path(tempfile.mkdtemp(prefix="lr-hosts-redis-"))
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no", "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            preexec_fn=_terminate_with_parent)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _pings(url) or proc.poll() is not None, timeout=15, what="redis-server")
        assert proc.poll() is None, "redis-server exited"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _pings(url: str) -> bool:
    try:
        return bool(Redis.from_url(url).ping())
    except RedisError:
        return False


@pytest.fixture()
def env(env, postgres_url, shared_redis, monkeypatch):
    """The test run's environment on PostgreSQL and the shared Redis (skips where PostgreSQL is not installed)."""
    values = {**env, "DATABASE_URL": postgres_url, "REDIS_URL": shared_redis}
    for key in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.setenv(key, values[key])
    return values


class Host:
    """A machine of its own: `leadrelay worker --processes N` in its own directory, var dir and process group."""

    def __init__(self, name: str, base: Path, env: dict[str, str]) -> None:
        self.name, self.dir = name, base / name
        self.dir.mkdir(parents=True)
        self.log = self.dir / "worker.log"
        child_env = {**os.environ, **env, "LEADRELAY_VAR_DIR": str(self.dir / "var"), "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "leadrelay", "worker", "--processes",
                                          str(PROCESSES)], cwd=self.dir, env=child_env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_terminate_with_parent)  # a timed-out test leaves no host

    def workers(self, conn: Redis) -> list[Worker]:
        """Its RQ workers: the supervisor's children share its process group."""
        return [w for w in Worker.all(connection=conn) if _group(w.pid) == self.proc.pid]

    def kill(self) -> None:
        """The machine dies: its whole process tree at once, nothing gets to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def tail(self) -> str:
        return f"--- host {self.name} ---\n" + self.log.read_text(errors="replace")[-3000:]


def _group(pid: int | None) -> int | None:
    try:
        return os.getpgid(pid) if pid else None
    except ProcessLookupError:
        return None


def _start(name: str, base: Path, env: dict[str, str], conn: Redis) -> Host:
    host = Host(name, base, env)
    wait_for(lambda: len(host.workers(conn)) == PROCESSES or host.proc.poll() is not None, timeout=60,
             what=f"host {name}'s workers")
    assert host.proc.poll() is None, host.tail()
    return host


def _holding_jobs(host: Host, conn: Redis) -> list[str]:
    """The drains its workers are running (a drain of 50 leads takes seconds: still running when the host dies)."""
    return [job_id for w in host.workers(conn) if (job_id := w.get_current_job_id()) and job_id.startswith("drain-")]


def _tasks(stack, platform: str) -> list[str]:
    rows = stack.control("GET", f"/accounts/{stack.tenants[platform].account_id}/{TASK_OBJECT[platform]}")["results"]
    return [str(r.get("id") or r.get("Id")) for r in rows]


def test_hosts_share_only_redis_and_postgres_and_one_killed_mid_burst_loses_and_doubles_nothing(live_stack,
                                                                                                   tmp_path):
    stack = live_stack
    conn = stack.redis()
    with session_scope(stack.env["DATABASE_URL"]) as s:
        s.execute(update(RuleSetVersion).values(body=SLA_RULES))
    tasks_before = {p: set(_tasks(stack, p)) for p in PLATFORMS}
    # CRM calls take a while, as real ones do (and host A is then sure to be mid-job when it dies)
    stack.configure(latency_ms=20)
    hosts = {"a": _start("a", tmp_path, stack.env, conn), "b": _start("b", tmp_path, stack.env, conn)}
    leads: dict[str, list[str]] = {p: [] for p in PLATFORMS}
    try:
        order = [(p, n) for n in range(max(BURST.values())) for p in PLATFORMS if n < BURST[p]]
        half = len(order) // 2
        for platform, n in order[:half]:
            leads[platform].append(stack.create_lead(platform, n, tag="hosts"))
        held = wait_for(lambda: _holding_jobs(hosts["a"], conn), timeout=60, what="host A to hold a drain")
        hosts["a"].kill()
        abandoned = [j for j in held if Job.fetch(j, connection=conn).get_status() == JobStatus.STARTED]
        assert abandoned, f"host A finished {held} before it died: it held nothing"
        hosts["c"] = _start("c", tmp_path, stack.env, conn)
        for platform, n in order[half:]:
            leads[platform].append(stack.create_lead(platform, n, tag="hosts"))
        stack.wait_webhooks_idle(timeout=60)

        def all_routed() -> bool:
            return all(len(stack.route_decisions(p)) >= len(leads[p]) for p in PLATFORMS)
        try:
            wait_for(all_routed, timeout=150, what="every lead routed")
            # nothing queued, due or running: the jobs host A held were seen abandoned and run again
            stack.wait_idle(timeout=150, horizon=5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {abandoned} held by host A when it died; {_state(stack, leads)}") from None
    finally:
        for host in hosts.values():
            host.stop()
        logs = "\n".join(h.tail() for h in hosts.values())

    failed = _failed_jobs(conn)
    assert failed == {}, logs
    for platform in PLATFORMS:
        _owned_once_with_one_task(stack, platform, leads[platform], tasks_before[platform])


def _state(stack, leads: dict[str, list[str]]) -> dict:
    """Where things stand, for a failure message: leads routed per CRM, each queue's waiting, running (with the
    job ids), due-soon and failed jobs, and the drain locks and flags left in Redis."""
    conn = stack.redis()
    queues = {name: Queue(name, connection=conn) for name in ALL_QUEUES}
    return {"routed": {p: f"{len(stack.route_decisions(p))} of {len(leads[p])}" for p in PLATFORMS},
            "queues": {name: {"queued": q.get_job_ids(), "started": q.started_job_registry.get_job_ids(),
                              "scheduled": q.scheduled_job_registry.get_job_ids(),
                              "failed": q.failed_job_registry.get_job_ids()} for name, q in queues.items()},
            "keys": sorted(k.decode() for k in conn.scan_iter("leadrelay:*drain*")),
            "scheduler_locks": sorted(k.decode() for k in conn.scan_iter("rq:scheduler-lock:*"))}


def _failed_jobs(conn: Redis) -> dict[str, str]:
    """Every failed job → its last error: none is expected here (no CRM refuses anything), and a job the dead host
    held must have been run again, not failed as abandoned."""
    found = {}
    for name in ALL_QUEUES:
        registry = Queue(name, connection=conn).failed_job_registry
        for job in registry.get_job_ids():
            result = Job.fetch(job, connection=conn).latest_result()
            found[job] = (result.exc_string if result else "no result")[-500:]
    return found


def _owned_once_with_one_task(stack, platform: str, lead_ids: list[str], tasks_before: set[str]) -> None:
    decisions = stack.route_decisions(platform)
    per_lead = Counter(d.object_id for d in decisions)
    assert sorted(per_lead) == sorted(lead_ids), f"{platform}: leads without a decision, or unknown ones"
    assert set(per_lead.values()) == {1}, f"{platform}: decided twice: {[k for k, v in per_lead.items() if v > 1]}"
    owners = stack.owners_in_crm(platform)
    wrong = {d.object_id: (d.inputs.get("owner_id"), owners.get(d.object_id)) for d in decisions
             if not d.inputs.get("owner_id") or owners.get(d.object_id) != d.inputs["owner_id"]}
    assert wrong == {}, f"{platform}: lead → (decided owner id, owner in the CRM)"

    with session_scope(stack.env["DATABASE_URL"]) as s:
        timers = s.scalars(select(SlaTimer).where(SlaTimer.tenant_id == stack.tenants[platform].tenant_id)).all()
        timers = [(t.object_id, t.task_id) for t in timers]
    per_lead = Counter(object_id for object_id, _ in timers)
    assert sorted(per_lead) == sorted(lead_ids) and set(per_lead.values()) == {1}, f"{platform}: SLA timers"
    new_tasks = set(_tasks(stack, platform)) - tasks_before
    with_task = [task_id for _, task_id in timers if task_id]
    assert len(with_task) == len(set(with_task)) and set(with_task) <= new_tasks, \
        f"{platform}: a task shared by two leads, or a task id the CRM does not have"
    assert len(new_tasks) <= len(lead_ids), f"{platform}: {len(new_tasks)} new tasks for {len(lead_ids)} leads"
    # Known gap (integration/followup/common.py, claim): the SLA claim is committed before the CRM call that creates
    # the task, so a host killed during that call leaves the lead's timer without a task (and the CRM perhaps with
    # one no timer names): at most once, never twice. Only the batch host A was running can be hit.
    taskless = [object_id for object_id, task_id in timers if not task_id]
    assert len(taskless) <= DRAIN_BATCH and len(new_tasks) - len(with_task) <= len(taskless), \
        f"{platform}: leads without an SLA task: {taskless}"
    if taskless:
        warnings.warn(f"{platform}: the kill cost {len(taskless)} leads their SLA task: {taskless}", stacklevel=1)
