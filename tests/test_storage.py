"""Storage rules a user would notice: no duplicate installs, no duplicate events, no cross-tenant reads."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from integration.db import migrate, session_scope
from integration.models import Decision, EventRecord, ReviewItem, Tenant


@pytest.fixture()
def db(database_url):
    migrate(database_url)
    return database_url


def _tenant(session, platform="hubspot", external_id="1001") -> Tenant:
    tenant = Tenant(platform=platform, external_id=external_id, name=f"{platform} {external_id}")
    session.add(tenant)
    session.flush()
    return tenant


def test_one_crm_account_is_one_tenant(db):
    with session_scope(db) as session:
        _tenant(session)
    with pytest.raises(IntegrityError), session_scope(db) as session:
        _tenant(session)
    with session_scope(db) as session:  # the same id on another platform is another account
        _tenant(session, platform="pipedrive")
        assert session.scalar(select(func.count()).select_from(Tenant)) == 2


def test_a_redelivered_event_is_stored_once(db):
    now = dt.datetime.now(dt.UTC)
    with session_scope(db) as session:
        tenant = _tenant(session)
        tenant_id = tenant.id
        session.add(EventRecord(tenant_id=tenant_id, dedup_key="evt-1", platform="hubspot", object_type="contact",
                                object_id="51", kind="created", occurred_at=now))
    with pytest.raises(IntegrityError), session_scope(db) as session:
        session.add(EventRecord(tenant_id=tenant_id, dedup_key="evt-1", platform="hubspot", object_type="contact",
                                object_id="51", kind="created", occurred_at=now))
    with session_scope(db) as session:
        stored = session.scalars(select(EventRecord)).all()
        assert [(e.dedup_key, e.occurred_at) for e in stored] == [("evt-1", now)]


def test_rows_of_another_tenant_are_invisible(db):
    with session_scope(db) as session:
        mine, theirs = _tenant(session, external_id="1"), _tenant(session, external_id="2")
        item = ReviewItem(tenant_id=theirs.id, kind="dedup", object_type="contact", object_id="9",
                          reason="possible duplicate of 10")
        session.add(item)
        session.flush()
        assert ReviewItem.get_for_tenant(session, item.id, mine.id) is None
        assert ReviewItem.get_for_tenant(session, item.id, theirs.id).reason == "possible duplicate of 10"
        assert session.scalars(ReviewItem.for_tenant(mine.id)).all() == []


def test_deleting_a_tenant_erases_its_rows(db):
    with session_scope(db) as session:
        tenant = _tenant(session)
        session.add(Decision(tenant_id=tenant.id, idempotency_key="route:51", kind="route", object_type="contact",
                             object_id="51", outcome="owner 7", reason="territory West"))
    with session_scope(db) as session:
        session.delete(session.scalar(select(Tenant)))
    with session_scope(db) as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0


def test_forked_processes_get_their_own_database_connections(db):
    # what gunicorn does: the master migrates (its pool keeps a connection), then forks workers that all query
    with session_scope(db) as session:
        _tenant(session)
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # a worker: many queries, racing its sibling; any error is a non-zero exit
            code = 0
            try:
                for _ in range(50):
                    with session_scope(db) as session:
                        code = code or (0 if session.scalar(select(func.count(Tenant.id))) == 1 else 3)
            except BaseException:  # noqa: BLE001 - the exit code is the report
                code = 4
            os._exit(code)
        children.append(pid)
    assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children] == [0, 0]
    with session_scope(db) as session:  # and the parent's own connection still works
        assert session.scalar(select(func.count(Tenant.id))) == 1
