"""The platform-neutral domain: everything between a CRM event and a write back, below the web app and the CLI."""


def __getattr__(name: str):
    """A job stored under a path from before the stable job names, whose module is gone (`integration.sla.check_sla`):
    RQ then asks this package for "sla.check_sla" (integration.jobs.MOVED resolves it, for one release)."""
    from integration.jobs import moved_job

    return moved_job(f"{__name__}.{name}")
