"""SLA check benchmark: due timers checked per second (half met, half breached), against an in-memory CRM.

What is measured is the check itself (reload, CRM reads, audit rows, commits on a fresh SQLite database);
the worker's per-job overhead (README: ≈4 ms with the simple worker class) comes on top.
"""
from __future__ import annotations

import datetime as dt
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from integration.db import migrate, session_scope
from integration.followup.sla import check_timer, open_timer
from integration.models import SlaTimer, Tenant
from integration.records import CRMUser, Record, TaskSpec, TaskState
from integration.routing.state import InMemoryPoolState
from integration.rules import load_rules
from integration.work import Work

RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": "ana@bench.test"}, {"email": "ben@bench.test"}, {"email": "max@bench.test", "manager": True}],
    "pools": {"team": {"members": ["ana@bench.test", "ben@bench.test"]}},
    "routing": [{"name": "All", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "sla": {"hot": {"first_touch": "5m", "escalate": [{"after": "5m", "action": "notify_manager"}]}},
    "cadences": {"hot": [{"after": "1d", "task": "email"}]},
}


class MemoryCRM:
    """Just what the SLA check calls, answered from dicts (no network, so the figure is LeadRelay's own cost)."""

    SEARCH_LAG = dt.timedelta(0)  # its answers are final at once: no second look

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}
        self.touched: set[str] = set()
        self._ids = itertools.count(1)

    def create_task(self, spec: TaskSpec) -> str:
        task_id = f"t{next(self._ids)}"
        self.tasks[task_id] = TaskState(id=task_id, done=False, owner_id=spec.owner_id, due_at=spec.due_at)
        return task_id

    def get_task(self, task_id: str) -> TaskState | None:
        return self.tasks.get(task_id)

    def record_url(self, object_type: str, record_id: str) -> str:
        return f"https://crm.example/{object_type}/{record_id}"

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        return record_id in self.touched

    def get_record(self, object_type: str, record_id: str) -> Record:
        return Record(object_type=object_type, id=record_id, fields={"lifecycle_stage": "lead"})


def bench_sla_checks(n: int = 2000) -> dict[str, Any]:
    """Open `n` SLA timers, touch every other lead, then time checking them all."""
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='lr-bench-sla-')) / 'bench.db'}"
    migrate(url)
    crm = MemoryCRM()
    users = [CRMUser(id=f"u{i}", email=e["email"], name=e["email"]) for i, e in enumerate(RULES["owners"])]
    with session_scope(url) as session:
        tenant = Tenant(platform="bench", external_id="sla", name="bench")
        session.add(tenant)
        session.commit()
        work = Work(session, tenant.id, crm, load_rules(RULES), lambda: users, InMemoryPoolState(),  # type: ignore[arg-type]
                    plan=lambda *_args: None)
        for i in range(n):
            open_timer(work, "contact", f"c{i}", users[i % 2], "hot", {"email": f"lead{i}@bench.test"}, "bench")
            if i % 2 == 0:
                crm.touched.add(f"c{i}")
        ids = list(session.scalars(SlaTimer.for_tenant(tenant.id).with_only_columns(SlaTimer.id)))
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        started = time.perf_counter()
        for timer_id in ids:
            t0 = time.perf_counter()
            outcome = check_timer(work, SlaTimer.get_for_tenant(session, timer_id, tenant.id))
            latencies.append(time.perf_counter() - t0)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"checks": len(ids), "seconds": round(elapsed, 3), "checks_per_second": round(len(ids) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
            "outcomes": outcomes, "database": "sqlite (temporary)", "crm": "in-memory"}


if __name__ == "__main__":  # pragma: no cover
    print(bench_sla_checks())
