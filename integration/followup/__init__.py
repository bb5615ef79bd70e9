"""After routing: the owner's SLA task and its checks, escalation, cadences, lifecycle sync, stale leads.

Never imports integration.pipeline.flow: the pipeline calls down into follow-up, not the other way round."""
