"""Review actions the CRM interrupts (issue 13): what was written is kept, pressing the button again finishes the
rest without writing anything twice, and a value the CRM refuses is said, not a failure (FakeCRMAdapter)."""
from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import func, select

from integration.db import session_scope
from integration.errors import CRMRateLimited, CRMValidationError
from integration.models import Decision, MergeSnapshot, ReviewItem, RuleSetVersion, SlaTimer
from integration.records import CRMUser, TaskSpec
from tests import test_console_pages as pages
from tests.test_console_pages import DAY1, add, login

world = pages.world  # the console pages' fixture: tenant T, alice its admin, a FakeCRMAdapter as its CRM

RULES = {"version": 1, "timezone": "UTC", "owners": [{"email": "rep@acme.com"}],
         "routing": [{"name": "DE", "when": {"country": "DE"}, "assign": {"owner": "rep@acme.com"}}],
         "fallback": {"review": True}, "sla": {"nurture": {"first_touch": "4h", "business_hours": False}}}


def fail_once(fake, method: str, error: Exception) -> None:
    """The fake's `method` raises `error` on its next call only."""
    real = getattr(fake, method)

    def once(*args, **kwargs):
        setattr(fake, method, real)
        raise error
    setattr(fake, method, once)


def dedup_item(world, env) -> tuple[int, str]:
    """n1 queued as a possible duplicate of o1, with its duplicate-of field and the admin's open task."""
    fake = world["fake"]
    fake.put("contact", "o1", updated_at=DAY1, email="ann@acme.com", first_name="Ann")
    fake.put("contact", "n1", email="ann@acme.com", first_name="Anne", leadrelay_duplicate_of="o1")
    task_id = fake.create_task(TaskSpec(subject="LeadRelay: possible duplicate to review", body="…", due_at=DAY1,
                                        owner_id="m1", record_type="contact", record_id="n1", kind="todo"))
    [item_id] = add(env, ReviewItem(tenant_id=world["T"], kind="dedup", object_type="contact", object_id="n1",
                                    other_object_id="o1", reason="Possible duplicate of o1 (score 0.81)",
                                    payload={"score": 0.81, "reasons": ["same email"], "task_id": task_id}))
    return item_id, task_id


def item_of(env, item_id: int) -> ReviewItem:
    with session_scope(env["DATABASE_URL"]) as s:
        item = s.get(ReviewItem, item_id)
        s.expunge(item)
        return item


def test_a_merge_interrupted_after_the_crm_merged_is_finished_by_pressing_merge_again(app, env, world):
    item_id, task_id = dedup_item(world, env)
    fake, alice = world["fake"], login(app, world, "alice")
    fail_once(fake, "complete_task", CRMRateLimited("fake 429", retry_after=2))
    url = f"/console/tenants/{world['T']}/review/merge"
    page = alice.post(url, data={"item_id": item_id}, follow_redirects=True).get_data(as_text=True)
    assert "fake 429" in page and "press Merge again to finish" in page
    assert item_of(env, item_id).status == "open" and not fake.tasks[task_id].done
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(MergeSnapshot.status)) == "merged"  # the CRM merged: never merged a second time

    page = alice.post(url, data={"item_id": item_id}, follow_redirects=True).get_data(as_text=True)
    assert "Merged Anne (removed) into Ann (kept)." in page
    assert fake.calls["merge"] == 1 and fake.tasks[task_id].done
    assert (item_of(env, item_id).status, item_of(env, item_id).resolution) == ("resolved", "merged into o1")


def test_not_a_duplicate_says_which_value_the_crm_refused_and_still_resolves(app, env, world):
    item_id, task_id = dedup_item(world, env)
    fake = world["fake"]
    fail_once(fake, "set_fields", CRMValidationError("no field LeadRelay_Duplicate_Of__c"))
    page = login(app, world, "alice").post(f"/console/tenants/{world['T']}/review/dismiss", data={
        "item_id": item_id}, follow_redirects=True).get_data(as_text=True)
    assert ("Anne and Ann are kept apart: both records stay. Not written: the “Possible duplicate of” field left "
            "on Anne: no field LeadRelay_Duplicate_Of__c.") in unescape(page)
    assert item_of(env, item_id).status == "resolved" and fake.tasks[task_id].done
    with session_scope(env["DATABASE_URL"]) as s:
        audit = s.scalar(select(Decision).where(Decision.kind == "review"))
        assert audit.inputs["crm_refused"] == ["leadrelay_duplicate_of left on n1: no field LeadRelay_Duplicate_Of__c"]


@pytest.fixture()
def routing_item(world, env):
    fake = world["fake"]
    fake.users = [CRMUser(id="u1", email="rep@acme.com", name="Rep")]
    fake.put("contact", "n2", email="bob@example.org", first_name="Bob")
    [item_id] = add(env, RuleSetVersion(tenant_id=world["T"], version=1, status="published", body=RULES),
                    ReviewItem(tenant_id=world["T"], kind="routing", object_type="contact", object_id="n2",
                               reason="No rule matched and no fallback"))[1:]
    return item_id


def test_an_assignment_interrupted_before_the_sla_task_is_finished_once(app, env, world, routing_item):
    fake, alice = world["fake"], login(app, world, "alice")
    fail_once(fake, "create_task", CRMRateLimited("fake 429", retry_after=2))
    url = f"/console/tenants/{world['T']}/review/assign"
    page = alice.post(url, data={"item_id": routing_item, "owner_id": "u1"}, follow_redirects=True)
    assert "press Assign again to finish" in page.get_data(as_text=True)
    assert fake.records[("contact", "n2")].owner_id == "u1" and item_of(env, routing_item).status == "open"

    alice.post(url, data={"item_id": routing_item, "owner_id": "u1"})
    alice.post(url, data={"item_id": routing_item, "owner_id": "u1"})  # a replay: already resolved
    record = fake.records[("contact", "n2")]
    assert (record.fields["leadrelay_rule"], record.fields["leadrelay_tier"]) == ("manual", "nurture")
    assert len(fake.tasks) == 1  # the refused attempt gave its key back; the second press created the one task
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(func.count()).select_from(SlaTimer)) == 1
    assert item_of(env, routing_item).status == "resolved"
