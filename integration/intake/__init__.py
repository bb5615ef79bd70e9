"""Events in: the webhook event log and its drain, the sweep that finds what webhooks missed, the backfill."""
