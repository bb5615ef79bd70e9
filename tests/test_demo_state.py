"""A demo run's state: its own folder each run, and no database or Redis of another run silently mixed in."""
from __future__ import annotations

import pytest
from redis import Redis

from integration.db import migrate, session_scope
from integration.models import Tenant
from leadrelay.demo_state import StaleState, check_database, check_redis, prepare


def test_each_run_gets_an_empty_folder_and_the_last_one_is_kept_aside(tmp_path):
    first = prepare(tmp_path, None, None)
    assert first.var_dir == tmp_path / "demo" and first.moved_to is None
    (first.var_dir / "leadrelay.db").write_text("the first run's decisions")

    second = prepare(tmp_path, None, None)
    assert list(second.var_dir.iterdir()) == []
    assert (second.moved_to / "leadrelay.db").read_text() == "the first run's decisions"

    (second.var_dir / "leadrelay.db").write_text("the second run's")
    third = prepare(tmp_path, None, None)  # only the last run is kept: the one before goes
    assert (third.moved_to / "leadrelay.db").read_text() == "the second run's"


def test_a_configured_database_with_tenants_is_refused_with_what_to_do(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    check_database(url)  # no tables yet: a new database is fine
    migrate(url)
    check_database(url)  # migrated and empty: fine
    with session_scope(url) as s:
        s.add(Tenant(platform="hubspot", external_id="101", name="Acme"))
    with pytest.raises(StaleState, match="already holds 1 installed CRM account.*unset it"):
        check_database(url)
    with pytest.raises(StaleState):
        prepare(tmp_path, url, None)
    assert not (tmp_path / "demo").exists()  # refused before anything was moved or made


def test_a_configured_redis_with_job_queues_is_refused(redis_url):
    check_redis(redis_url)
    Redis.from_url(redis_url).sadd("rq:queues", "rq:queue:sla")
    with pytest.raises(StaleState, match=r"rq:queues.*unset it"):
        check_redis(redis_url)


def test_an_unreachable_redis_says_so(tmp_path):
    with pytest.raises(StaleState, match="cannot reach REDIS_URL"):
        check_redis(f"unix://{tmp_path / 'nothing.sock'}")
