"""Database engine, sessions and migrations (Alembic, applied on start)."""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("leadrelay.db")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web process read while a worker writes; foreign keys are off by default in SQLite.
    _journal_mode_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable on commit except at power loss
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _journal_mode_wal(cur, attempts: int = 50) -> None:
    # Turning a new database file to WAL takes an exclusive lock, and SQLite answers "database is locked" at once,
    # without waiting out busy_timeout, to a connection that does it while another one is doing the same: processes
    # starting together on a fresh file (two `leadrelay web`s did). WAL is kept in the file, so this wait happens
    # only in its first moments.
    for attempt in range(attempts):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


def get_engine(url: str) -> Engine:
    """One engine per URL per process (engines are not fork-safe: call `dispose_engines` after fork)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                _ensure_sqlite_dir(url)
                engine = create_engine(url, connect_args={"timeout": 10})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            _engines[url] = engine
        return engine


def _after_fork_in_child() -> None:
    """A forked child (gunicorn worker, worker supervisor child) must not share its parent's pooled connections: a
    PostgreSQL socket used by two processes corrupts both sessions. Fresh pools here; the lock too, since another
    thread of the parent may have held it at the fork."""
    global _lock
    _lock = threading.Lock()
    for engine in list(_engines.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


_factories: dict[str, sessionmaker[Session]] = {}


@contextlib.contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = _factories.get(url)
    if factory is None:
        factory = _factories.setdefault(url, sessionmaker(get_engine(url), expire_on_commit=False))
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Any fixed 64-bit number, the same in every LeadRelay process: the key of the PostgreSQL advisory lock that
# serialises migrations (advisory locks are per database, so one key serves every LeadRelay database on a cluster).
MIGRATION_LOCK_KEY = 0x4C52_4D49_4752_4154  # "LRMIGRAT"


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent; safe to run on every start, from any number of processes at once)."""
    with _migration_connection(url) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("db.migrated", extra={"from_revision": before, "to_revision": after})


def downgrade(url: str, revision: str) -> None:
    with _migration_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@contextlib.contextmanager
def _migration_connection(url: str) -> Iterator[Connection]:
    """One transaction that holds the database's migration lock from before Alembic reads the current revision until
    its changes are committed: web and worker processes starting together on an empty database would otherwise each
    find no schema and each create it, and all but one fail ("relation already exists")."""
    with get_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            # the transaction-scoped variant: released by the commit (or rollback), so a failed migration can never
            # leave a pooled connection holding the lock
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction before DDL, so Alembic's CREATE TABLEs would each commit on their own;
            # BEGIN IMMEDIATE takes SQLite's one write lock now (the others wait on busy_timeout) and makes the whole
            # upgrade one transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def current_revision(url: str) -> str | None:
    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def ping(url: str) -> None:
    with get_engine(url).connect() as conn:
        conn.execute(text("SELECT 1"))
