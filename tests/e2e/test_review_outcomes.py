"""Issue 13, defects 2 and 3: what the review queue's actions write into each CRM, through the console routes, the
adapters and the sandbox: "not a duplicate", "merge" and "assign" update the records and tasks as the pipeline
would, and an undo brings every value of both records back (or says which one the CRM refused)."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from redis import Redis
from sqlalchemy import func, select

from adapters.factory import build_adapter
from adapters.subscriptions import ensure_tenant_fields
from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import Decision, MergeSnapshot, ReviewItem, SlaTimer
from integration.records import Event
from tests.console_helpers import add_members, sign_in
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_undo_merge import LEAD_OBJECT, PAIRS, BurstWorker, create, writes

ANA, DANA = "ana.owner@leadrelay.test", "dana.manager@leadrelay.test"
USERS = [{"email": ANA, "name": "Ana Owner"}, {"email": DANA, "name": "Dana Manager"}]
RULES = {"version": 1, "timezone": "UTC", "owners": [{"email": ANA}, {"email": DANA, "manager": True}],
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": ANA}}],
         "fallback": {"review": True},
         "scoring": {"rules": [{"when": {"has_email": True}, "points": 70}]},
         "sla": {"hot": {"first_touch": "5m", "business_hours": False}}}
UNSURE = {**RULES, "dedup": {"auto_merge": 0.995, "review": 0.5}}  # the PAIRS (score ≈ 0.95–0.99) go to review
GERMANY_ONLY = {**RULES, "routing": [{"name": "Germany", "when": {"country": "DE"}, "assign": {"owner": ANA}}]}
NOWHERE = {  # a lead no rule matches: routed to review, then assigned by hand
    "hubspot": ("contacts", {"firstname": "Sven", "lastname": "Larsson", "email": "sven@larsson.example"}),
    "salesforce": ("Lead", {"FirstName": "Sven", "LastName": "Larsson", "Email": "sven@larsson.example",
                            "Company": "Larsson AB"}),
    "pipedrive": ("persons", {"name": "Sven Larsson", "emails": [{"value": "sven@larsson.example",
                                                                  "primary": True}]}),
}
# where each sandbox keeps tasks, and how it stores (done, owner, body)
TASKS = {"hubspot": ("tasks", lambda t: (t["properties"].get("hs_task_status") == "COMPLETED",
                                         t["properties"].get("hubspot_owner_id"), t["properties"].get("hs_task_body"))),
         "salesforce": ("Task", lambda t: (t["Status"] == "Completed", t["OwnerId"], t.get("Description"))),
         "pipedrive": ("activities", lambda t: (bool(t["done"]), str(t["owner_id"]), t.get("note")))}
PLATFORMS = ["hubspot", "salesforce", "pipedrive"]
# the loser of an automatic merge with an additional email where the CRM keeps them (HubSpot: unique like the primary)
MERGED = {**PAIRS,
          "hubspot": (PAIRS["hubspot"][0], PAIRS["hubspot"][1],
                      {**PAIRS["hubspot"][2], "hs_additional_emails": "grace@home.example"}),
          "pipedrive": (PAIRS["pipedrive"][0], PAIRS["pipedrive"][1], {
              **PAIRS["pipedrive"][2],
              "emails": [*PAIRS["pipedrive"][2]["emails"], {"value": "grace@home.example", "primary": False}],
              "phones": [*PAIRS["pipedrive"][2]["phones"], {"value": "+49 30 7654321", "primary": False}]})}
# a value of the survivor's snapshot that a rep changed after the merge (undo brings the snapshot's back)
EDITED = {"hubspot": {"company": "US Navy"}, "salesforce": {"Company": "US Navy"},
          "pipedrive": {"emails": [{"value": "grace@navy.example", "primary": True}]}}


def deliver(env, tenant_id: int, platform: str, object_id: str) -> None:
    """What the webhook endpoint does for a created record, then the drain job."""
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, tenant_id, [Event(platform=platform, account_id="", object_type=LEAD_OBJECT[platform],
                                           object_id=object_id, kind="created", occurred_at=dt.datetime.now(dt.UTC),
                                           event_id=f"review-{object_id}")])
    enqueue_drain(tenant_id)
    BurstWorker(["intake"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


@pytest.fixture()
def console(crm_env, app, crm_sandbox):
    """An installed CRM account with LeadRelay's fields, `rules` published, and its admin signed in."""
    app.config["WTF_CSRF_ENABLED"] = False

    def make(platform: str, rules: dict):
        tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform,
                                                rules, f"Review {platform}", USERS)
        ensure_tenant_fields(tenant_id)  # the install's job: LeadRelay's own fields exist in the CRM
        with session_scope(crm_env["DATABASE_URL"]) as s:
            alice = add_members(s, tenant_id, {"alice": "admin"})["alice"]
        return tenant_id, account, sign_in(app, alice)
    return make


def post(client, tenant_id: int, action: str, **form) -> str:
    """Press a review page button; the page it redirects to (with the flashed message)."""
    resp = client.post(f"/console/tenants/{tenant_id}/review/{action}", data=form, follow_redirects=True)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def stored_task(server, account: dict, platform: str, task_id: str) -> tuple[bool, str, str]:
    """(done, owner id, body) of a task as the sandbox stores it."""
    sandbox_object, shape = TASKS[platform]
    rows = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{sandbox_object}").json()
    [task] = [t for t in rows["results"] if str(t.get("id") or t.get("Id")) == str(task_id)]
    return shape(task)


def queued_pair(env, server, platform: str, tenant_id: int, account: dict) -> tuple[str, str, ReviewItem]:
    """The same person twice, the second an unsure duplicate: (first id, second id, its review item)."""
    sobject, first_props, second_props = PAIRS[platform]
    first = create(server, account, sobject, first_props)
    deliver(env, tenant_id, platform, first)
    second = create(server, account, sobject, second_props)
    deliver(env, tenant_id, platform, second)
    with session_scope(env["DATABASE_URL"]) as s:
        item = s.scalar(select(ReviewItem).where(ReviewItem.kind == "dedup"))
        assert item is not None, [r.reason for r in s.scalars(select(ReviewItem))]
        s.expunge(item)
    assert (item.object_id, item.other_object_id) == (second, first)
    return first, second, item


def audit(env, item_id: int) -> Decision:
    with session_scope(env["DATABASE_URL"]) as s:
        row = s.scalar(select(Decision).where(Decision.idempotency_key == f"review:{item_id}"))
        s.expunge(row)
        return row


def replay_changes_nothing(client, server, account: dict, tenant_id: int, action: str, **form) -> None:
    before = len(writes(server, account))
    assert "was already resolved" in post(client, tenant_id, action, **form)
    assert len(writes(server, account)) == before


@pytest.mark.parametrize("platform", PLATFORMS)
def test_not_a_duplicate_clears_the_duplicate_of_field_and_closes_the_admins_task(console, crm_env, crm_sandbox,
                                                                                 platform):
    tenant_id, account, alice = console(platform, UNSURE)
    adapter, object_type = build_adapter(tenant_id), LEAD_OBJECT[platform]
    first, second, item = queued_pair(crm_env, crm_sandbox, platform, tenant_id, account)
    task_id = item.payload["task_id"]
    assert adapter.get_record(object_type, second).fields["leadrelay_duplicate_of"] == first
    assert stored_task(crm_sandbox, account, platform, task_id)[0] is False

    page = post(alice, tenant_id, "dismiss", item_id=item.id)
    assert "Grace Hopper and Grace Hopper are kept apart: both records stay." in page and "Not written" not in page
    assert "leadrelay_duplicate_of" not in adapter.get_record(object_type, second).fields
    done, _, body = stored_task(crm_sandbox, account, platform, task_id)
    assert done and body.endswith(f"Resolved in LeadRelay's review queue by alice@example.com: {second} is not a "
                                  f"duplicate of {first}; both records stay.")
    decision = audit(crm_env, item.id)
    assert (decision.outcome, decision.inputs["task_closed"], decision.inputs["duplicate_of_cleared"]) == (
        "not a duplicate", task_id, second)
    replay_changes_nothing(alice, crm_sandbox, account, tenant_id, "dismiss", item_id=item.id)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_merge_from_the_queue_closes_the_admins_task_and_leaves_no_duplicate_of(console, crm_env, crm_sandbox,
                                                                               platform):
    tenant_id, account, alice = console(platform, UNSURE)
    adapter, object_type = build_adapter(tenant_id), LEAD_OBJECT[platform]
    first, second, item = queued_pair(crm_env, crm_sandbox, platform, tenant_id, account)
    task_id = item.payload["task_id"]

    page = post(alice, tenant_id, "merge", item_id=item.id)
    survivor = merged_id(crm_env)  # HubSpot: a new record under a new id; elsewhere the survivor keeps its id
    assert survivor not in (first, second) if platform == "hubspot" else survivor == first
    # the same person twice: the flash tells the two apart (company, email, else CRM id) as the platform has them
    said = re.search(r"Merged (Grace Hopper[^<]*) \(removed\) into (Grace Hopper[^<]*) \(kept\)\.", unescape(page))
    assert said and said.group(1) != said.group(2) and "Not written" not in page
    gone = adapter.get_record(object_type, second)  # HubSpot answers an old id with the merged record
    assert (gone.id if gone else None) == (survivor if platform == "hubspot" else None)
    assert "leadrelay_duplicate_of" not in adapter.get_record(object_type, survivor).fields
    done, _, body = stored_task(crm_sandbox, account, platform, task_id)
    assert done and body.endswith(f"by alice@example.com: {second} merged into {survivor}.")
    decision = audit(crm_env, item.id)
    assert (decision.outcome, decision.inputs["task_closed"]) == (f"merged into {survivor}", task_id)
    replay_changes_nothing(alice, crm_sandbox, account, tenant_id, "merge", item_id=item.id)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_lead_assigned_by_hand_gets_its_owner_reason_fields_and_sla_task(console, crm_env, crm_sandbox, platform):
    tenant_id, account, alice = console(platform, GERMANY_ONLY)
    adapter, object_type = build_adapter(tenant_id), LEAD_OBJECT[platform]
    sobject, props = NOWHERE[platform]
    lead = create(crm_sandbox, account, sobject, props)
    deliver(crm_env, tenant_id, platform, lead)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        item = s.scalar(select(ReviewItem).where(ReviewItem.kind == "routing"))
        assert item is not None and s.scalar(select(func.count()).select_from(SlaTimer)) == 0
        item_id = item.id
    dana = next(u for u in adapter.list_users() if u.email == DANA)

    page = post(alice, tenant_id, "assign", item_id=item_id, owner_id=dana.id)
    assert f"Sven Larsson now belongs to Dana Manager ({DANA})." in page and "Not written" not in page
    record = adapter.get_record(object_type, lead)
    assert record.owner_id == dana.id
    assert (record.fields["leadrelay_rule"], record.fields["leadrelay_tier"]) == ("manual", "hot")
    assert record.fields["leadrelay_reason"] == f"alice@example.com assigned {lead} to {DANA} by hand ({item.reason})"
    with session_scope(crm_env["DATABASE_URL"]) as s:
        [timer] = s.scalars(select(SlaTimer)).all()
        task_audit = s.scalar(select(Decision).where(Decision.idempotency_key == f"{timer.key}:task"))
        assert (timer.object_id, timer.owner_id, task_audit.inputs["owner_id"]) == (lead, dana.id, dana.id)
        task_id = timer.task_id
    done, owner, body = stored_task(crm_sandbox, account, platform, task_id)
    assert (done, owner) == (False, dana.id) and "by hand" in body
    decision = audit(crm_env, item_id)
    assert (decision.outcome, decision.inputs["owner_id"], decision.inputs["rule"], decision.inputs["sla_task"]) == (
        DANA, dana.id, "manual", task_id)
    replay_changes_nothing(alice, crm_sandbox, account, tenant_id, "assign", item_id=item_id, owner_id=dana.id)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert s.scalar(select(func.count()).select_from(SlaTimer)) == 1


def merged_id(env) -> str:
    """The id the merged record lives under (the one snapshot's survivor)."""
    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(select(MergeSnapshot.survivor_id))


def merged_pair(env, server, platform: str, tenant_id: int, account: dict):
    """The same person twice, merged automatically: (survivor before, loser before, snapshot id). On HubSpot the
    merged record has a new id, which the survivor's old id still answers."""
    adapter, object_type = build_adapter(tenant_id), LEAD_OBJECT[platform]
    sobject, first_props, second_props = MERGED[platform]
    first = create(server, account, sobject, first_props)
    deliver(env, tenant_id, platform, first)
    survivor_before = adapter.get_record(object_type, first)
    second = create(server, account, sobject, second_props)
    loser_before = adapter.get_record(object_type, second)
    deliver(env, tenant_id, platform, second)
    with session_scope(env["DATABASE_URL"]) as s:
        snapshot = s.scalar(select(MergeSnapshot))
        assert (snapshot.loser_id, snapshot.status) == (second, "merged")
        assert snapshot.survivor_id not in (first, second) if platform == "hubspot" else snapshot.survivor_id == first
        return survivor_before, loser_before, snapshot.id


def restored_id(env, snapshot_id: int) -> str:
    with session_scope(env["DATABASE_URL"]) as s:
        snapshot = s.get(MergeSnapshot, snapshot_id)
        assert snapshot.status == "undone"
        return snapshot.restored_id


@pytest.mark.parametrize("platform", PLATFORMS)
def test_undo_from_the_console_restores_every_value_of_both_records(console, crm_env, crm_sandbox, platform):
    tenant_id, account, alice = console(platform, RULES)
    adapter, object_type = build_adapter(tenant_id), LEAD_OBJECT[platform]
    survivor_before, loser_before, snapshot_id = merged_pair(crm_env, crm_sandbox, platform, tenant_id, account)
    assert loser_before.extra_emails == (() if platform == "salesforce" else ("grace@home.example",))
    assert loser_before.extra_phones == (("+49 30 7654321",) if platform == "pipedrive" else ())
    browser(crm_sandbox).post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate", json={
        "action": "update", "object_type": MERGED[platform][0], "id": survivor_before.id,
        "properties": EDITED[platform]}).raise_for_status()

    page = post(alice, tenant_id, "undo", snapshot_id=snapshot_id)
    new_id = restored_id(crm_env, snapshot_id)
    survivor, restored = adapter.get_record(object_type, survivor_before.id), adapter.get_record(object_type, new_id)
    # on HubSpot the loser's emails (unique) sat on the survivor as additional ones: they moved back
    assert (survivor.fields, survivor.extra_emails, survivor.owner_id) == (
        survivor_before.fields, survivor_before.extra_emails, survivor_before.owner_id)
    assert (restored.fields, restored.extra_emails, restored.extra_phones, restored.owner_id) == (
        loser_before.fields, loser_before.extra_emails, loser_before.extra_phones, loser_before.owner_id)
    assert "every value of the snapshot is back" in page and "could not restore" not in page
    before = len(writes(crm_sandbox, account))
    assert "was undone already" in post(alice, tenant_id, "undo", snapshot_id=snapshot_id)
    assert len(writes(crm_sandbox, account)) == before


def test_undo_names_the_email_hubspot_still_refuses(console, crm_env, crm_sandbox):
    """A rep took the address off the survivor and gave it to a third contact: the CRM refuses it twice."""
    tenant_id, account, alice = console("hubspot", RULES)
    adapter = build_adapter(tenant_id)
    survivor_before, loser_before, snapshot_id = merged_pair(crm_env, crm_sandbox, "hubspot", tenant_id, account)
    email = loser_before.fields["email"]
    browser(crm_sandbox).post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate", json={
        "action": "update", "object_type": "contacts", "id": survivor_before.id,
        "properties": {"hs_additional_emails": ""}}).raise_for_status()
    third = create(crm_sandbox, account, "contacts", {"firstname": "Someone", "lastname": "Else", "email": email})

    page = post(alice, tenant_id, "undo", snapshot_id=snapshot_id)
    new_id = restored_id(crm_env, snapshot_id)
    assert (f"could not restore email {email} on {new_id}: the CRM keeps emails unique and another record has it "
            f"(HubSpot 409 CONFLICT: Contact already exists. Existing ID: {third})") in page
    expected = {k: v for k, v in loser_before.fields.items() if k not in ("email", "domain")}
    assert adapter.get_record("contact", new_id).fields == expected
    assert adapter.get_record("contact", survivor_before.id).fields == survivor_before.fields
    listed = alice.get(f"/console/tenants/{tenant_id}/review").get_data(as_text=True)  # said again on the page
    assert "1 value not restored" in listed and f"could not restore email {email} on {new_id}" in listed
