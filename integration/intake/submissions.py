"""Web-form submissions, after the intake endpoint stored them: the `process_submission` job looks the person up
before any record exists (the dedup index first, then the CRM), creates or updates the record, enriches, routes.

The web layer (marketplace/intake_api.py) only validates, stores an IntakeSubmission and calls
`enqueue_submission`; everything that talks to the CRM happens here, on the intake queue.
"""
from __future__ import annotations

import logging

from integration.jobs import job
from integration.queues import INTAKE

log = logging.getLogger("leadrelay.intake.submissions")


@job(INTAKE, name="process_submission", timeout=120)
def process_submission(tenant_id: int, submission_id: int) -> str:
    """Dedup before create, then create or update the CRM record, enrich, route (capture work: issue #19)."""
    raise NotImplementedError("process_submission is being built (issue #19): submissions wait in the queue")


def enqueue_submission(tenant_id: int, submission_id: int) -> None:
    """Queue the work for one stored submission (the job id makes a repeat enqueue a no-op while it waits)."""
    process_submission.enqueue(tenant_id, submission_id, job_id=f"submission-{tenant_id}-{submission_id}")
