"""Where a demo run keeps its state, and why each run starts from an empty one.

The sandbox keeps its CRMs in memory, so every demo run starts with new, empty accounts whose account and record ids
repeat the last run's. A database or Redis that outlived the last run would hold decisions, SLA clocks and jobs
under those very ids, and the new leads would collide with them (undecided leads, negative speed-to-owner, twice
the SLA tasks). So a run keeps everything under `<var>/demo/` (database, embedded Redis, logs, certificates),
moves an earlier run's folder to `<var>/demo.previous/` (one kept, to look at), and refuses a database or Redis the
user pointed it at (DATABASE_URL, REDIS_URL) that already holds LeadRelay data, saying what to do.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from integration.models import Tenant


class StaleState(RuntimeError):
    """State from another run that the demo will not mix with its own; the message says what to do."""


@dataclass(frozen=True)
class DemoState:
    var_dir: Path        # the run's own folder: becomes LEADRELAY_VAR_DIR for the demo and its children
    moved_to: Path | None  # where an earlier run's folder went, to tell the user


def prepare(base_var: Path, database_url: str | None, redis_url: str | None) -> DemoState:
    """A fresh `<base_var>/demo/` for this run; raises StaleState for a configured database or Redis in use."""
    if database_url:
        check_database(database_url)
    if redis_url:
        check_redis(redis_url)
    var_dir = base_var / "demo"
    moved_to = None
    if var_dir.exists():
        _stop_embedded_redis(var_dir / "redis" / "redis.sock")
        moved_to = base_var / "demo.previous"
        shutil.rmtree(moved_to, ignore_errors=True)
        var_dir.rename(moved_to)
    var_dir.mkdir(parents=True)
    return DemoState(var_dir=var_dir, moved_to=moved_to)


def check_database(url: str) -> None:
    """StaleState when the database at `url` already has tenants (an empty or new database is fine)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(Tenant.__tablename__):
                return
            tenants = conn.scalar(select(func.count()).select_from(Tenant.__table__))
    except SQLAlchemyError as exc:
        raise StaleState(f"the demo cannot open DATABASE_URL ({exc.__class__.__name__}): fix it, or unset "
                         "DATABASE_URL and the demo keeps its own database under var/demo/") from exc
    finally:
        engine.dispose()
    if tenants:
        raise StaleState(
            f"DATABASE_URL points at a database that already holds {tenants} installed CRM account(s). The "
            "demo's sandbox starts empty on every run, with the same account and record ids, so they would "
            "collide with what is stored there. Point DATABASE_URL at an empty database, or unset it: the demo "
            "then keeps its own database under var/demo/ and starts it afresh each run.")


def check_redis(url: str) -> None:
    """StaleState when the Redis at `url` holds RQ queues or scheduled jobs (LeadRelay's or anyone's)."""
    try:
        client = Redis.from_url(url, socket_timeout=3)
        leftovers = next(iter(client.scan_iter(match="rq:*", count=100)), None)
    except (RedisError, OSError, ValueError) as exc:
        raise StaleState(f"the demo cannot reach REDIS_URL ({exc.__class__.__name__}): fix it, or unset "
                         "REDIS_URL and the demo starts its own Redis under var/demo/") from exc
    if leftovers is not None:
        raise StaleState(
            "REDIS_URL points at a Redis that already holds job queues (keys rq:*, e.g. "
            f"{leftovers.decode(errors='replace')}): jobs scheduled by an earlier run (SLA checks, cadence steps) "
            "would act on this run's leads. Point REDIS_URL at an empty Redis database (e.g. …/15), or unset it: "
            "the demo then starts its own under var/demo/.")


def _stop_embedded_redis(socket: Path) -> None:
    """An earlier run killed without cleaning up may have left its Redis running on the folder's socket."""
    if not socket.exists():
        return
    try:
        Redis(unix_socket_path=str(socket), socket_timeout=2).shutdown(nosave=True)
    except (RedisError, OSError):
        pass  # gone already (the socket file outlived it), or it went down while answering SHUTDOWN
