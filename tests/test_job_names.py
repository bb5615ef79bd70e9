"""Jobs are stored by stable name (integration.jobs): a job planned before code moved still runs after it.

RQ keeps the dotted path a job was enqueued under and imports it when the job runs, hours (an SLA check) or days
(a cadence step) later; these tests hold every name, new and old, to resolving in a worker process.
"""
from __future__ import annotations

import ast
import datetime as dt
import json
import subprocess
import sys

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler

from integration.admin.diagnostics import complete_probe, probe_status, request_probe
from integration.jobs import HOMES, MOVED, job, stored_path
from tests.conftest import ROOT
from tests.workers import BurstWorker

JOB_PACKAGES = ("integration", "adapters", "oauth", "marketplace")


def _declared_jobs() -> dict[str, str]:
    """Every `@job(..., name=...)` in the product's source: stable name → module."""
    found = {}
    for package in JOB_PACKAGES:
        folder = ROOT / package
        assert folder.is_dir(), f"{package}/ is missing: the scan would pass on nothing"
        for path in folder.rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                for deco in getattr(node, "decorator_list", ()):
                    if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "job":
                        names = [k.value for k in deco.keywords if k.arg == "name"]
                        assert names and isinstance(names[0], ast.Constant) and names[0].value, \
                            f"{module}: every product job has a stable name= (a string)"
                        name = names[0].value
                        assert name not in found, f"job name {name!r} declared twice"
                        found[name] = module
    assert len(found) >= 10, found
    return found


def _resolve_in_a_worker_process(paths: list[str]) -> dict[str, str]:
    """What RQ's import_attribute gives for each path in a fresh process that imports what a worker imports."""
    code = ("import json, sys, worker\nfrom rq.utils import import_attribute\nout = {}\n"
            "for p in json.loads(sys.argv[1]):\n"
            "    fn = import_attribute(p)\n"
            "    out[p] = fn.spec.name\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_job_is_declared_with_a_stable_name_and_integrations_own_are_listed_where_they_live():
    declared = _declared_jobs()
    own = {name: module for name, module in declared.items() if module.startswith("integration.")}
    assert own == HOMES  # a job added or moved in integration/ updates HOMES, so other processes find it
    assert set(MOVED.values()) <= set(declared)


def test_every_job_name_and_every_old_path_resolves_in_a_worker_process():
    declared = _declared_jobs()
    new = {stored_path(name): name for name in declared}
    resolved = _resolve_in_a_worker_process([*new, *MOVED])
    assert {path: resolved[path] for path in new} == new
    assert {path: resolved[path] for path in MOVED} == MOVED


def test_a_job_is_stored_under_its_stable_name_not_its_module(env):
    stored = complete_probe.enqueue(None, "tok", job_id="probe-stable-name")
    assert Job.fetch(stored.id, connection=Redis.from_url(env["REDIS_URL"])).func_name \
        == "integration.jobs.complete_probe"


def test_a_job_scheduled_under_its_path_from_before_the_move_still_runs(env, app):
    """A probe completion planned under `integration.diagnostics.complete_probe` (its module is gone) is moved to
    its queue by RQ's scheduler when due and run by a worker."""
    conn = Redis.from_url(env["REDIS_URL"])
    probe_token = request_probe().token
    maintenance = Queue("maintenance", connection=conn)
    maintenance.empty()  # only the job planned the old way is left to complete the probe
    old = maintenance.enqueue_at(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
                                 "integration.diagnostics.complete_probe", None, probe_token, job_id="old-probe")
    assert old.id in ScheduledJobRegistry(queue=maintenance)
    scheduler = RQScheduler(["maintenance"], connection=conn)
    assert scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()  # as a worker's scheduler does when the time comes
    scheduler.release_locks()
    BurstWorker(["maintenance"], connection=conn).work(burst=True)
    assert Job.fetch("old-probe", connection=conn).return_value() == "done"
    assert probe_status(probe_token)["done"] is True


def test_a_drain_stored_under_the_module_that_became_a_package_still_runs(env, app):
    """`integration.intake` was a module with `drain_tenant` in it; it is a package now."""
    conn = Redis.from_url(env["REDIS_URL"])
    Queue("intake", connection=conn).enqueue("integration.intake.drain_tenant", None, job_id="old-drain")
    BurstWorker(["intake"], connection=conn).work(burst=True)
    assert Job.fetch("old-drain", connection=conn).get_status() == "finished"


def test_a_job_name_cannot_be_taken_twice():
    with pytest.raises(ValueError, match="complete_probe"):
        job("maintenance", name="complete_probe")(lambda tenant_id: None)
