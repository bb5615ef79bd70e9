"""Events in: the webhook event log and its drain, the sweep that finds what webhooks missed, the backfill."""


def __getattr__(name: str):
    """`integration.intake.drain_tenant`, the path drain jobs were stored under when intake was one module: RQ asks
    this package for it (integration.jobs.MOVED resolves it, for one release)."""
    from integration.jobs import moved_job

    return moved_job(f"{__name__}.{name}")
