"""Undoing an auto-merge in each CRM, through `leadrelay merges undo`, the adapters and the sandbox."""
from __future__ import annotations

import argparse
import datetime as dt

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import Decision, MergeSnapshot, ReviewItem
from integration.records import Event
from leadrelay.merges_cli import add_merges_arguments, run_merges
from tests.crm_helpers import browser, install_with_rules
from tests.workers import BurstWorker

OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": "America/New_York"}]
RULES = {"version": 1, "timezone": "UTC", "owners": [{"email": OWNERS[0]["email"]}],
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": OWNERS[0]["email"]}}],
         "fallback": {"review": True}}
LEAD_OBJECT = {"hubspot": "contact", "salesforce": "lead", "pipedrive": "contact"}
# (object, the lead already in the CRM, the same person again with a value the first one lacks)
PAIRS = {
    "hubspot": ("contacts",
                {"firstname": "Grace", "lastname": "Hopper", "email": "Grace.Hopper@Navy.example",
                 "phone": "+49 30 1234567", "company": "Navy"},
                # HubSpot refuses a second contact with the same email: a plus-address it is
                {"firstname": "Grace", "lastname": "Hopper", "email": "grace.hopper+events@navy.example",
                 "phone": "+49 (30) 123-4567", "company": "Navy", "jobtitle": "Rear Admiral"}),
    "salesforce": ("Lead",
                   {"FirstName": "Grace", "LastName": "Hopper", "Email": "Grace.Hopper@Navy.example",
                    "Phone": "+49 30 1234567", "Company": "Navy"},
                   {"FirstName": "Grace", "LastName": "Hopper", "Email": "grace.hopper@NAVY.example",
                    "Phone": "+49 (30) 123-4567", "Company": "Navy", "Title": "Rear Admiral"}),
    "pipedrive": ("persons",
                  {"name": "Grace Hopper", "emails": [{"value": "Grace.Hopper@Navy.example", "primary": True}]},
                  {"name": "Grace Hopper", "emails": [{"value": "grace.hopper@navy.example", "primary": True}],
                   "phones": [{"value": "+49 30 1234567", "primary": True}]}),
}


@pytest.fixture()
def tenant_for(crm_env, app, crm_sandbox):
    def make(platform: str) -> tuple[int, dict]:
        return install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform, RULES,
                                  f"Undo {platform}", OWNERS)
    return make


def create(server, account: dict, object_type: str, properties: dict) -> str:
    resp = browser(server).post(f"{server.url}/_sandbox/accounts/{account['account_id']}/simulate",
                                json={"action": "create", "object_type": object_type, "properties": properties})
    resp.raise_for_status()
    created = resp.json()
    return str(created.get("id") or created.get("Id") or created.get("data", {}).get("id"))


def deliver(env, tenant_id: int, platform: str, object_type: str, object_id: str) -> None:
    """What the webhook endpoint does for a created record (the endpoint has its own tests)."""
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, tenant_id, [Event(platform=platform, account_id="", object_type=object_type,
                                           object_id=object_id, kind="created", occurred_at=dt.datetime.now(dt.UTC),
                                           event_id=f"undo-{object_id}")])
    enqueue_drain(tenant_id)
    BurstWorker(["intake"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def undo(snapshot_id: int) -> int:
    parser = argparse.ArgumentParser()
    add_merges_arguments(parser)
    return run_merges(parser.parse_args(["undo", str(snapshot_id)]))


def writes(server, account: dict) -> list[dict]:
    calls = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/calls").json()["calls"]
    return [c for c in calls if c["method"] in ("PATCH", "PUT", "POST", "DELETE")
            and not any(read in c["path"] for read in ("search", "query", "batch/read"))]


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_an_undone_merge_brings_both_records_back_as_they_were(tenant_for, crm_env, crm_sandbox, platform,
                                                              capsys):
    from adapters.factory import build_adapter

    tenant_id, account = tenant_for(platform)
    adapter, object_type = build_adapter(tenant_id), LEAD_OBJECT[platform]
    sobject, first_props, second_props = PAIRS[platform]
    first = create(crm_sandbox, account, sobject, first_props)
    deliver(crm_env, tenant_id, platform, object_type, first)
    survivor_before = adapter.get_record(object_type, first)
    second = create(crm_sandbox, account, sobject, second_props)
    loser_before = adapter.get_record(object_type, second)
    deliver(crm_env, tenant_id, platform, object_type, second)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        snapshot = s.scalar(select(MergeSnapshot))
        assert snapshot is not None, [r.reason for r in s.scalars(select(ReviewItem))]
        assert (snapshot.loser_id, snapshot.status) == (second, "merged")
    merged_id = snapshot.survivor_id
    if platform == "hubspot":
        # HubSpot's merge makes a new record (changelog "Updated merge functionality for contacts and companies");
        # both old ids answer it
        assert merged_id not in (first, second)
        assert [adapter.get_record(object_type, i).id for i in (first, second)] == [merged_id, merged_id]
    else:
        assert merged_id == first and adapter.get_record(object_type, second) is None
    assert adapter.get_record(object_type, merged_id).fields != survivor_before.fields  # the merge filled a field

    assert undo(snapshot.id) == 0
    summary = capsys.readouterr().out.strip()
    with session_scope(crm_env["DATABASE_URL"]) as s:
        done = s.get(MergeSnapshot, snapshot.id)
        assert (done.status, done.restored_id is not None) == ("undone", True), summary
        decision = s.scalar(select(Decision).where(Decision.kind == "undo"))
        assert decision.reason == summary
    survivor, restored = adapter.get_record(object_type, merged_id), adapter.get_record(object_type, done.restored_id)
    assert survivor.id == merged_id  # restored where the merged record lives: under its new id on HubSpot
    # HubSpot kept the loser's (unique) email on the survivor as an additional one: taken off it, then given back
    assert (survivor.fields, survivor.extra_emails) == (survivor_before.fields, survivor_before.extra_emails)
    assert (restored.fields, restored.extra_emails) == (loser_before.fields, loser_before.extra_emails)
    assert restored.owner_id == loser_before.owner_id
    assert summary.endswith("; every value of the snapshot is back")

    before = len(writes(crm_sandbox, account))
    assert undo(snapshot.id) == 0
    assert capsys.readouterr().out.startswith(f"merge #{snapshot.id} was undone already")
    assert len(writes(crm_sandbox, account)) == before
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(Decision).where(Decision.kind == "undo")).all()) == 1

    deliver(crm_env, tenant_id, platform, object_type, done.restored_id)  # its creation seen by the sweep
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(MergeSnapshot)).all()) == 1  # not merged straight back
    assert adapter.get_record(object_type, done.restored_id) is not None
