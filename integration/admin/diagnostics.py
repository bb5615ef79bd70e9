"""A web → queue → worker → database round trip, to prove (and time) that the parts move."""
from __future__ import annotations

import datetime as dt
import secrets

from rq import get_current_job
from sqlalchemy import delete, select

from integration.config import get_settings
from integration.db import session_scope
from integration.jobs import job
from integration.models import Probe, utcnow
from integration.queues import MAINTENANCE

# A probe is read within seconds of its creation; older rows are deleted by the next request_probe.
PROBE_TTL = dt.timedelta(hours=1)


def request_probe() -> Probe:
    """Store a new probe (dropping expired ones) and enqueue the job that completes it."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        session.execute(delete(Probe).where(Probe.requested_at < utcnow() - PROBE_TTL))
        probe = Probe(token=secrets.token_hex(16))
        session.add(probe)
    complete_probe.enqueue(None, probe.token, job_id=f"probe-{probe.token}")
    return probe


# On the last queue in priority order, so a probe never delays webhooks, routing or SLA checks. It shares that
# queue with installs and erasures; what keeps probes from crowding them out is that only operators may ask for
# one, at most PROBES_PER_MINUTE per caller (marketplace/diagnostics.py), and that each is a one-row update.
@job(MAINTENANCE, name="complete_probe", timeout=30, retries=3)
def complete_probe(tenant_id: None, token: str) -> str:
    """Mark the probe done by this worker (idempotent: a second run keeps the first completion)."""
    current = get_current_job()
    with session_scope(get_settings().database_url) as session:
        probe = session.scalar(select(Probe).where(Probe.token == token))
        if probe is None:
            return "gone"
        if probe.completed_at is None:
            probe.completed_at = utcnow()
            probe.worker = current.worker_name if current else None
    return "done"


def probe_status(token: str) -> dict | None:
    with session_scope(get_settings().database_url) as session:
        probe = session.scalar(select(Probe).where(Probe.token == token))
        if probe is None:
            return None
        return {"token": probe.token, "requested_at": probe.requested_at.isoformat(),
                "completed_at": probe.completed_at.isoformat() if probe.completed_at else None,
                "worker": probe.worker, "done": probe.completed_at is not None}
