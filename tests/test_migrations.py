"""Migrations: applied from scratch, idempotent, reversible, and in step with the models (SQLite and PostgreSQL)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from integration.db import current_revision, downgrade, get_engine, head_revision, migrate
from integration.models import Base


def test_migrate_creates_every_table_and_is_idempotent(database_url):
    migrate(database_url)
    migrate(database_url)  # a second start changes nothing
    assert current_revision(database_url) == head_revision()
    tables = set(inspect(get_engine(database_url)).get_table_names())
    assert {"tenants", "credentials", "agencies", "console_users", "memberships", "rule_set_versions", "events",
            "decisions", "sla_timers", "review_items", "dedup_keys"} <= tables


def test_migrations_match_the_models(database_url):
    migrate(database_url)
    with get_engine(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def test_downgrade_to_base_and_back(database_url):
    migrate(database_url)
    downgrade(database_url, "base")
    assert current_revision(database_url) is None
    assert "tenants" not in inspect(get_engine(database_url)).get_table_names()
    migrate(database_url)
    assert current_revision(database_url) == head_revision()
