"""Start RQ workers (with the RQ scheduler) on LeadRelay's queues; one or many processes."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time

from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.worker import WorkerStatus

# A worker resolves every job by its stable name (integration.jobs): integration's own through jobs.HOMES, the outer
# layers' once their modules are imported, here.
import adapters.subscriptions  # noqa: F401
import oauth.jobs  # noqa: F401
from adapters.factory import wire
from adapters.senders import wire as wire_senders
from integration.config import Settings
from integration.db import migrate, session_scope
from integration.enrich import enrich
from integration.intake.calibration import schedule_calibrations
from integration.intake.events import resume_pending
from integration.intake.submissions import resume_submissions
from integration.intake.sweep import schedule_sweeps
from integration.logs import configure_logging
from integration.queues import QUEUES, UnknownQueue, redis_connection

log = logging.getLogger("leadrelay.worker")

# How often an idle worker wakes up for RQ's maintenance (taking over the scheduler of a dead worker, handling jobs
# it abandoned), and how often a running job's heartbeat is renewed.
MAINTENANCE_INTERVAL = 15
JOB_HEARTBEAT = 10


class _Maintained:
    """RQ blocks an idle worker on the queues for its TTL minus 15 s (405 s) and runs maintenance only between two
    waits: a host's idle workers would take over a dead host's scheduler lock and its abandoned jobs minutes late."""

    @property
    def dequeue_timeout(self) -> int:
        return MAINTENANCE_INTERVAL


class MaintainedWorker(_Maintained, Worker):
    pass


class MaintainedSimpleWorker(_Maintained, SimpleWorker):
    """RQ's SimpleWorker sends no heartbeat while a job runs, so a job's entry in the started registry lives for
    the job's whole timeout plus a minute: one a SIGKILLed worker held was seen abandoned (and re-run) only then.
    Here the heartbeat is renewed during the job, as RQ's forking Worker does, and a dead worker's jobs are
    re-run about a minute after it died."""

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return Worker.get_heartbeat_ttl(self, job, working_time)  # the forking worker's: renewed, so short

    def execute_job(self, job, queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job, execution)
                except RedisError as exc:  # the next beat tries again; the job itself goes on
                    log.warning("worker.heartbeat-failed", extra={"job_id": job.id, "error": str(exc)})

        beater = threading.Thread(target=beat, name="job-heartbeat", daemon=True)
        beater.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beater.join()
        self.set_state(WorkerStatus.IDLE)


WORKER_CLASSES = {"simple": MaintainedSimpleWorker, "fork": MaintainedWorker}


def selected_queues(settings: Settings, names: list[str] | None = None) -> list[str]:
    chosen = list(names or settings.queues or QUEUES)
    for name in chosen:
        if name not in QUEUES:
            raise UnknownQueue(name)
    # keep the priority order of QUEUES whatever order the user typed
    return [q for q in QUEUES if q in chosen]


def run_worker(settings: Settings, queues: list[str], burst: bool = False) -> int:
    """Run one worker in this process until stopped (or, with burst, until the queues are empty)."""
    configure_logging(settings.log_level, settings.log_format)
    migrate(settings.database_url)
    wire()
    wire_senders()
    connection = redis_connection(settings)
    # work a crash or a restart left behind, and the sweeps, are (re)planned at every start
    resume_pending()
    with session_scope(settings.database_url) as session:
        resume_submissions(session)  # web-form posts whose enqueue a Redis outage or a crash lost
    schedule_sweeps()
    schedule_calibrations()
    _warm_enrichment()
    # a short maintenance interval: after a worker holding the scheduler lock dies, another takes over the
    # scheduling of delayed jobs (retries, re-plans, sweeps) within seconds instead of RQ's default 10 minutes
    worker = WORKER_CLASSES[settings.worker_class](queues, connection=connection,
                                                   maintenance_interval=MAINTENANCE_INTERVAL,
                                                   job_monitoring_interval=JOB_HEARTBEAT)
    log.info("worker.started", extra={"queues": queues, "worker": worker.name, "class": settings.worker_class})
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    return 0


def _warm_enrichment() -> None:
    """Load enrichment's lists and ZIP index now (about a second): the first lead should not wait for them, and a
    forking worker's job processes inherit them."""
    started = time.perf_counter()
    enrich({"email": "warm-up@example.com", "phone": "+1 214 555 0100", "postcode": "75201", "country": "US"})
    log.info("worker.enrichment-loaded", extra={"ms": round(1000 * (time.perf_counter() - started))})


class Supervisor:
    """Keeps N worker processes running: restarts one that dies, stops all on SIGTERM/SIGINT."""

    def __init__(self, processes: int, queues: list[str], burst: bool) -> None:
        self.processes = processes
        self.argv = [sys.executable, "-m", "leadrelay", "worker", "--processes", "1", "--queues", ",".join(queues)]
        if burst:
            self.argv.append("--burst")
        self.burst = burst
        self.children: list[subprocess.Popen] = []
        self.stopping = False

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv)  # with this process's environment: the REDIS_URL `leadrelay worker` shares

    def _stop(self, *_args) -> None:
        self.stopping = True
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # RQ: warm shutdown, finish the current job

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.children = [self._spawn() for _ in range(self.processes)]
        print(f"started {self.processes} worker processes: {[c.pid for c in self.children]}", flush=True)
        while True:
            alive = [c for c in self.children if c.poll() is None]
            if not alive and (self.stopping or self.burst):
                return max((c.returncode or 0) for c in self.children)
            if not self.stopping and not self.burst:
                self._restart_dead()
            time.sleep(0.5)

    def _restart_dead(self) -> None:
        for i, child in enumerate(self.children):
            if child.poll() is not None:
                log.warning("worker.died", extra={"pid": child.pid, "code": child.returncode})
                time.sleep(1)  # don't spin if it dies at once
                self.children[i] = self._spawn()
