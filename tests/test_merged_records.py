"""remap_merged: what LeadRelay keeps under merged-away ids moves to the merged record, once, keys kept unique."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from sqlalchemy import select

from integration.crm.echo import RedisWriteLog
from integration.crm.merged_records import remap_merged
from integration.db import session_scope
from integration.intake.events import record_events
from integration.models import Decision, DedupKey, MergeSnapshot, ReviewItem, SlaTimer, Tenant
from integration.records import Event

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture()
def tenant_id(app, env) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="777", name="Merge Co")
        s.add(tenant)
        s.flush()
        return tenant.id


def _seed(env, tenant_id: int) -> None:
    """Two routed leads, 100 (the primary) and 200, each with keys, decisions and an open hot clock."""
    def decision(key: str, object_id: str, kind: str = "route", outcome: str = "ana@acme.test") -> Decision:
        return Decision(tenant_id=tenant_id, idempotency_key=key, kind=kind, object_type="contact",
                        object_id=object_id, outcome=outcome, reason="r", inputs={"owner_id": "u1"})

    def timer(key: str, object_id: str, due: dt.datetime, status: str = "pending", policy: str = "hot") -> SlaTimer:
        return SlaTimer(tenant_id=tenant_id, key=key, object_type="contact", object_id=object_id, policy=policy,
                        owner_id="u1", task_id=f"task-{object_id}", due_at=due, status=status)

    def key(kind: str, value: str, object_id: str) -> DedupKey:
        return DedupKey(tenant_id=tenant_id, key_type=kind, key_value=value, object_type="contact",
                        object_id=object_id)

    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all([
            key("email", "ada@acme.test", "100"), key("name", "lovelace|a", "100"),
            key("email", "ada@home.test", "200"), key("name", "lovelace|a", "200"),
            decision("route:contact:100", "100"), decision("route:contact:200", "200", outcome="bob@acme.test"),
            decision("sla:contact:100:hot:task", "100", kind="sla", outcome="task_created"),
            timer("sla:contact:100:hot", "100", T0 + dt.timedelta(hours=2)),
            timer("sla:contact:200:hot", "200", T0 + dt.timedelta(hours=1)),  # due first: this clock goes on
            timer("cadence:contact:100:warm:0", "100", T0, status="planned", policy="cadence:warm"),
            ReviewItem(tenant_id=tenant_id, kind="dedup", object_type="contact", object_id="200",
                       other_object_id="100", reason="Possible duplicate of 100"),
            ReviewItem(tenant_id=tenant_id, kind="routing", object_type="contact", object_id="200", reason="x"),
            MergeSnapshot(tenant_id=tenant_id, object_type="contact", survivor_id="100", loser_id="50", score=0.95,
                          survivor_before={"id": "100"}, loser_before={"id": "50"}, status="merged"),
        ])


def _state(env, tenant_id: int) -> dict:
    with session_scope(env["DATABASE_URL"]) as s:
        return {
            "keys": sorted((k.key_type, k.key_value, k.object_id) for k in s.scalars(DedupKey.for_tenant(tenant_id))),
            "decisions": sorted((d.idempotency_key, d.object_id, d.outcome)
                                for d in s.scalars(Decision.for_tenant(tenant_id))),
            "timers": sorted((t.key, t.object_id, t.status, t.task_id)
                             for t in s.scalars(SlaTimer.for_tenant(tenant_id))),
            "reviews": sorted((r.kind, r.object_id, r.other_object_id, r.status, r.resolution)
                              for r in s.scalars(ReviewItem.for_tenant(tenant_id))),
            "snapshots": [(m.survivor_id, m.loser_id) for m in s.scalars(MergeSnapshot.for_tenant(tenant_id))],
        }


def test_a_merge_into_a_new_id_moves_everything_once_and_keeps_keys_unique(env, tenant_id):
    _seed(env, tenant_id)
    with session_scope(env["DATABASE_URL"]) as s:
        done = remap_merged(s, tenant_id, "contact", ["100", "200"], "300")
    assert done.moved == {"dedup_keys": 4, "decisions": 3, "sla_timers": 3, "review_items": 2, "merge_snapshots": 1}
    state = _state(env, tenant_id)
    assert state["keys"] == [("email", "ada@acme.test", "300"), ("email", "ada@home.test", "300"),
                             ("name", "lovelace|a", "300")]
    # the primary's decisions take the new id's keys; the other's keeps its own key, on the merged record
    assert state["decisions"] == [
        ("route:contact:200", "300", "bob@acme.test"), ("route:contact:300", "300", "ana@acme.test"),
        ("sla:contact:100:hot:merged", "300", "merged"), ("sla:contact:300:hot:task", "300", "task_created")]
    # two open hot clocks on one record: the earlier goes on under the new key, the other ends as "merged"
    assert state["timers"] == [
        ("cadence:contact:300:warm:0", "300", "planned", "task-100"),
        ("sla:contact:100:hot", "300", "merged", "task-100"),
        ("sla:contact:300:hot", "300", "pending", "task-200")]
    assert state["reviews"] == [("dedup", "300", "300", "resolved", "merged in the CRM"),
                                ("routing", "300", None, "open", None)]
    assert state["snapshots"] == [("300", "50")]
    with session_scope(env["DATABASE_URL"]) as s:  # each decision names the id it was made under
        made_under = {d.idempotency_key: d.inputs.get("merged_from") for d in s.scalars(Decision.for_tenant(tenant_id))}
    assert made_under == {"route:contact:300": "100", "route:contact:200": "200", "sla:contact:300:hot:task": "100",
                          "sla:contact:100:hot:merged": None}
    with session_scope(env["DATABASE_URL"]) as s:  # the merge webhook again, or after LeadRelay's own remap
        again = remap_merged(s, tenant_id, "contact", ["100", "200"], "300")
    assert not again.anything and _state(env, tenant_id) == state


def test_a_survivor_that_keeps_its_id_keeps_its_own_keys(env, tenant_id):
    # Salesforce and Pipedrive: the survivor (here 200) keeps its id; only the loser's rows move
    _seed(env, tenant_id)
    with session_scope(env["DATABASE_URL"]) as s:
        remap_merged(s, tenant_id, "contact", ["200", "100"], "200")
    state = _state(env, tenant_id)
    assert ("route:contact:200", "200", "bob@acme.test") in state["decisions"]
    assert ("route:contact:100", "200", "ana@acme.test") in state["decisions"]  # key taken: its own kept
    assert [t[:3] for t in state["timers"]] == [("cadence:contact:200:warm:0", "200", "planned"),
                                                ("sla:contact:100:hot", "200", "merged"),
                                                ("sla:contact:200:hot", "200", "pending")]


def test_an_earlier_clock_of_the_merged_away_record_takes_the_key_from_the_survivors(env, tenant_id):
    _seed(env, tenant_id)
    with session_scope(env["DATABASE_URL"]) as s:  # 100 survives under its id; 200's clock is due first
        remap_merged(s, tenant_id, "contact", ["100", "200"], "100")
    timers = {t[0]: t[1:] for t in _state(env, tenant_id)["timers"]}
    assert timers["sla:contact:100:hot"] == ("100", "pending", "task-200")
    assert [v for k, v in timers.items() if k.startswith("sla:contact:100:hot:m")] == [("100", "merged", "task-100")]


def test_our_recent_writes_on_the_old_records_count_on_the_merged_one(env, tenant_id):
    writes = RedisWriteLog(Redis.from_url(env["REDIS_URL"]), tenant_id)
    writes.remember("contact", "100", ["owner"])
    writes.remember("contact", "200", ["leadrelay_reason"])
    with session_scope(env["DATABASE_URL"]) as s:
        remap_merged(s, tenant_id, "contact", ["100", "200"], "300", writes)
    assert writes.wrote("contact", "300") == {"owner", "leadrelay_reason"}


def test_a_merge_event_remaps_when_it_is_recorded_and_a_redelivery_changes_nothing(env, tenant_id):
    _seed(env, tenant_id)
    merge = Event(platform="hubspot", account_id="777", object_type="contact", object_id="300", kind="merged",
                  occurred_at=T0, event_id="m1", merged_ids=("100", "200"))
    with session_scope(env["DATABASE_URL"]) as s:
        assert record_events(s, tenant_id, [merge]) == 1
    state = _state(env, tenant_id)
    assert ("route:contact:300", "300", "ana@acme.test") in state["decisions"]
    with session_scope(env["DATABASE_URL"]) as s:
        assert record_events(s, tenant_id, [merge]) == 0
    assert _state(env, tenant_id) == state
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(SlaTimer.object_id).where(SlaTimer.key == "sla:contact:300:hot")) == "300"
