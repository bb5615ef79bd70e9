"""Where the escalation job lived before it joined integration.followup.sla: RQ stores a job by its function's dotted path,
so steps scheduled before that move still name `integration.sla_escalation.escalate_sla` and must find it here."""
from integration.followup.sla import escalate_sla

__all__ = ["escalate_sla"]
