"""An install's follow-up jobs run at once on two workers, each adding its own key to the tenant's settings.

CI once saw the demo wait a minute for Salesforce's "fields made" step that had finished: the webhook job's
read-modify-write had dropped the fields job's key. merge_settings takes the write lock before it reads."""
from __future__ import annotations

import threading
import time

from integration.db import migrate, session_scope
from integration.models import Tenant


def test_two_writers_each_keep_their_key(database_url):
    migrate(database_url)
    with session_scope(database_url) as s:
        tenant = Tenant(platform="salesforce", external_id="00D-race", name="Race", settings={"seed": 1})
        s.add(tenant)
        s.flush()
        tenant_id = tenant.id
    second_done = threading.Event()

    def second_writer() -> None:
        with session_scope(database_url) as s:
            Tenant.merge_settings(s, tenant_id, {"leadrelay_fields": {"ready": True}})
        second_done.set()

    with session_scope(database_url) as s:
        Tenant.merge_settings(s, tenant_id, {"webhook_subscriptions": ["a", "b"]})
        worker = threading.Thread(target=second_writer)
        worker.start()
        time.sleep(0.5)  # the second writer reads while the first has not committed yet
        blocked = not second_done.is_set()
    worker.join(15)

    with session_scope(database_url) as s:
        settings = s.get(Tenant, tenant_id).settings
    assert blocked, "the second writer must wait for the first one's commit, not read settings beside it"
    assert settings == {"seed": 1, "webhook_subscriptions": ["a", "b"], "leadrelay_fields": {"ready": True}}


def test_a_missing_tenant_is_none(database_url):
    migrate(database_url)
    with session_scope(database_url) as s:
        assert Tenant.merge_settings(s, 999, {"x": 1}) is None
