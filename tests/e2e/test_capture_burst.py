"""A burst of web-form submissions is worked in batches: one job takes the tenant's waiting submissions, creates
their records in one batch call where the CRM has one (HubSpot batch create, Salesforce sObject Collections;
Pipedrive one by one), adds their notes in one more, and writes owners and SLA tasks in the pipeline's batch writes.
What a batch can't finish (a twin of a person in the same batch, a create the CRM refused as a duplicate its search
does not show yet) goes back to its own job; nothing is created twice, nothing is left waiting."""
from __future__ import annotations

from collections import Counter

import pytest
from redis import Redis
from sqlalchemy import select

from adapters.subscriptions import ensure_tenant_fields
from integration.db import session_scope
from integration.intake.submissions import BATCHED, enqueue_submission, process_submission
from integration.models import Decision, SlaTimer
from integration.models.capture import ACCEPTED, CREATED, UPDATED
from tests.e2e.test_capture_flow import (
    FIRST,
    PLATFORMS,
    TABLES,
    calls,
    notes_on,
    rows,
    run_intake,
    submission,
    submit,
    tasks_on,
    tenant_for,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.e2e


NAMES = ("Ada", "Alan", "Barbara", "Charles", "Dennis", "Edsger", "Frances", "Grace", "Hedy", "Ivan", "Joan",
         "Ken", "Linus", "Margaret")


def person(n: int) -> dict:
    return {**FIRST, "first_name": NAMES[n], "last_name": "Lovelace", "email": f"{NAMES[n].lower()}@analytical.example",
            "phone": f"+1 214 555 {1000 + n:04d}", "message": f"Message {n}"}


def creates(platform: str, made: list[dict]) -> Counter:
    """The CRM calls that made records, by kind (Salesforce's Collections calls make the notes and the SLA tasks
    too: the call log has no body to tell them apart)."""
    paths = {"hubspot": ("/crm/v3/objects/contacts", "/crm/v3/objects/contacts/batch/create"),
             "salesforce": ("/services/data/v59.0/composite/sobjects", "/services/data/v59.0/sobjects/Lead"),
             "pipedrive": ("/api/v2/persons",)}[platform]
    return Counter(f"{c['method']} {c['path'].split('?')[0]}" for c in made
                   if c["method"] == "POST" and c["path"].split("?")[0] in paths)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_burst_is_created_in_batches_each_routed_noted_and_tasked(tenant_for, crm_env, crm_sandbox,  # noqa: F811
                                                                   platform):
    tenant_id, account = tenant_for(platform)
    ensure_tenant_fields(tenant_id)  # as the install does: LeadRelay's fields made (Salesforce: found missing)
    lead_table, note_table, task_table = TABLES[platform]
    before = len(rows(crm_sandbox, account, lead_table))
    browser_calls = len(calls(crm_sandbox, account))
    ids = [submit(crm_env, tenant_id, person(n)) for n in range(12)]
    for sub_id in ids:
        enqueue_submission(tenant_id, sub_id)
    run_intake(crm_env)

    subs = [submission(crm_env, i) for i in ids]
    assert [s.status for s in subs] == [CREATED] * 12, [s.error for s in subs]
    assert len({s.record_id for s in subs}) == 12
    assert len(rows(crm_sandbox, account, lead_table)) == before + 12
    made = calls(crm_sandbox, account)[browser_calls:]
    kinds = creates(platform, made)
    # the first job took every waiting submission: one batch create (Salesforce: one each for the records, their
    # notes and their SLA tasks); Pipedrive has no batch create for persons: one by one
    assert sum(kinds.values()) == {"hubspot": 1, "salesforce": 3, "pipedrive": 12}[platform], kinds
    notes, tasks = rows(crm_sandbox, account, note_table), rows(crm_sandbox, account, task_table)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        routes = {d.object_id: d for d in s.scalars(select(Decision).where(Decision.kind == "route"))}
        timers = {t.object_id for t in s.scalars(select(SlaTimer))}
    for sub in subs:
        assert len(notes_on(platform, notes, sub.record_id)) == 1
        assert routes[sub.record_id].inputs.get("written_at")  # the owner is written in the CRM
        assert len(tasks_on(platform, tasks, sub.record_id)) == 1 and sub.record_id in timers


def test_the_other_jobs_of_a_batch_find_their_submission_done(tenant_for, crm_env, crm_sandbox):  # noqa: F811
    tenant_id, _account = tenant_for("hubspot")
    ids = [submit(crm_env, tenant_id, person(n)) for n in range(3)]
    assert process_submission(tenant_id, ids[0]) == CREATED  # its batch took all three
    assert [submission(crm_env, i).status for i in ids] == [CREATED] * 3
    assert process_submission(tenant_id, ids[2]) == CREATED  # its own job, later: nothing more


def test_a_submission_another_job_holds_is_left_to_that_job(tenant_for, crm_env, crm_sandbox):  # noqa: F811
    tenant_id, _account = tenant_for("hubspot")
    sub_id = submit(crm_env, tenant_id, person(1))
    redis = Redis.from_url(crm_env["REDIS_URL"])
    key = f"leadrelay:capture:claim:{tenant_id}:{sub_id}"
    redis.set(key, "another-job", ex=60)
    assert process_submission(tenant_id, sub_id) == BATCHED
    assert submission(crm_env, sub_id).status == ACCEPTED and redis.get(key) == b"another-job"
    redis.delete(key)  # that job ended without finishing it: its own job (queued again) does
    assert process_submission(tenant_id, sub_id) == CREATED


@pytest.mark.parametrize("platform", ["hubspot", "salesforce"])
def test_a_twin_in_the_same_batch_updates_the_first_ones_record(tenant_for, crm_env, crm_sandbox,  # noqa: F811
                                                               platform):
    tenant_id, account = tenant_for(platform)
    lead_table, note_table, _ = TABLES[platform]
    before = len(rows(crm_sandbox, account, lead_table))
    first = submit(crm_env, tenant_id, person(7))
    twin = submit(crm_env, tenant_id, {**person(7), "email": "GRACE@Analytical.example", "message": "Again"})
    other = submit(crm_env, tenant_id, person(8))
    for sub_id in (first, twin, other):
        enqueue_submission(tenant_id, sub_id)
    run_intake(crm_env)
    subs = {i: submission(crm_env, i) for i in (first, twin, other)}
    assert (subs[first].status, subs[twin].status, subs[other].status) == (CREATED, UPDATED, CREATED)
    assert subs[twin].record_id == subs[first].record_id
    assert len(rows(crm_sandbox, account, lead_table)) == before + 2
    assert len(notes_on(platform, rows(crm_sandbox, account, note_table), subs[first].record_id)) == 2


def test_a_create_the_crm_refuses_as_a_duplicate_goes_back_to_its_own_job(tenant_for, crm_env,  # noqa: F811
                                                                          crm_sandbox):
    """HubSpot refuses the batch for one email it already has (its search did not show that contact yet): the
    others are created one by one; the refused one's own job is queued again and, once the search shows the
    contact, updates it."""
    from tests.test_capture_job import contact

    tenant_id, account = tenant_for("hubspot")
    crm_sandbox.sandbox.config.update({"search_lag_ms": 60_000})
    existing = contact(crm_sandbox, account, {"firstname": "Charles", "lastname": "Lovelace",
                                              "email": "charles@analytical.example"})
    ids = [submit(crm_env, tenant_id, person(n)) for n in (2, 3, 4)]
    assert process_submission(tenant_id, ids[0]) == CREATED
    assert [submission(crm_env, i).status for i in ids] == [CREATED, ACCEPTED, CREATED]
    queued = Redis.from_url(crm_env["REDIS_URL"]).lrange("rq:queue:intake", 0, -1)
    assert f"submission-{tenant_id}-{ids[1]}".encode() in queued
    crm_sandbox.sandbox.config.update({"search_lag_ms": 0})
    assert process_submission(tenant_id, ids[1]) == UPDATED
    assert submission(crm_env, ids[1]).record_id == existing


def test_a_new_record_is_linked_to_the_crm_company_of_its_business_email(tenant_for, crm_env,  # noqa: F811
                                                                        crm_sandbox):
    from adapters.factory import build_adapter
    from tests.crm_helpers import browser

    tenant_id, account = tenant_for("hubspot")
    crm_sandbox.sandbox.config.update({"search_lag_ms": 0})
    company = browser(crm_sandbox).post(
        f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate",
        json={"action": "create", "object_type": "companies",
              "properties": {"name": "Analytical Engines", "domain": "analytical.example"}}).json()
    linked = submit(crm_env, tenant_id, person(0))
    free_mail = submit(crm_env, tenant_id, {**person(1), "email": "alan@gmail.com"})
    assert process_submission(tenant_id, linked) == CREATED
    adapter = build_adapter(tenant_id)
    assert adapter.get_record("contact", submission(crm_env, linked).record_id).company_id == str(company["id"])
    assert adapter.get_record("contact", submission(crm_env, free_mail).record_id).company_id is None
    with session_scope(crm_env["DATABASE_URL"]) as s:
        reason = s.scalar(select(Decision.reason).where(Decision.kind == "capture",
                                                        Decision.object_id == submission(crm_env, linked).record_id))
    assert "linked to its company" in reason


def test_a_failing_batch_is_kept_for_its_retry_and_nobody_storms_the_crm_meanwhile(tenant_for, crm_env,  # noqa: F811
                                                                                   crm_sandbox):
    """A batch that hits an outage (or a 429) keeps its submissions claimed for its own retry, after RQ's backoff:
    their own jobs leave them alone instead of each trying the CRM again at once."""
    from rq import Queue
    from rq.job import Job

    tenant_id, account = tenant_for("hubspot")
    ids = [submit(crm_env, tenant_id, person(n)) for n in range(3)]
    redis = Redis.from_url(crm_env["REDIS_URL"])
    crm_sandbox.sandbox.config.update({"error_rate": 1.0})
    try:
        enqueue_submission(tenant_id, ids[0])
        run_intake(crm_env)
    finally:
        crm_sandbox.sandbox.config.update({"error_rate": 0.0})
    owner = f"submission-{tenant_id}-{ids[0]}"
    assert [redis.get(f"leadrelay:capture:claim:{tenant_id}:{i}") for i in ids] == [owner.encode()] * 3
    assert process_submission(tenant_id, ids[1]) == BATCHED  # its own job leaves it to the batch's retry
    assert [submission(crm_env, i).status for i in ids] == [ACCEPTED] * 3

    queue = Queue("intake", connection=redis)
    assert owner in queue.scheduled_job_registry.get_job_ids()  # RQ retries it after the backoff
    queue.enqueue_job(Job.fetch(owner, connection=redis))  # the backoff is over
    run_intake(crm_env)
    assert [submission(crm_env, i).status for i in ids] == [CREATED] * 3
    assert not redis.keys(f"leadrelay:capture:claim:{tenant_id}:*")


def test_a_batch_looks_past_the_oldest_submissions_other_jobs_hold(tenant_for, crm_env, crm_sandbox):  # noqa: F811
    tenant_id, _account = tenant_for("hubspot")
    ids = [submit(crm_env, tenant_id, person(n)) for n in range(6)]
    redis = Redis.from_url(crm_env["REDIS_URL"])
    for held in ids[:3]:  # another job's batch (retrying after a 429) holds the oldest three
        redis.set(f"leadrelay:capture:claim:{tenant_id}:{held}", "another-job", ex=60)
    assert process_submission(tenant_id, ids[5]) == CREATED
    assert [submission(crm_env, i).status for i in ids] == [ACCEPTED] * 3 + [CREATED] * 3


def test_a_pipedrive_tenant_may_also_get_a_lead_in_its_leads_inbox(tenant_for, crm_env, crm_sandbox):  # noqa: F811
    from integration.models import Tenant

    tenant_id, account = tenant_for("pipedrive")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        Tenant.merge_settings(s, tenant_id, {"capture_inbox_lead": True})
    ids = [submit(crm_env, tenant_id, person(n)) for n in (0, 1)]
    assert process_submission(tenant_id, ids[0]) == CREATED
    leads = rows(crm_sandbox, account, "leads")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        routes = {d.object_id: d for d in s.scalars(select(Decision).where(Decision.kind == "route"))}
        captures = {d.object_id: d for d in s.scalars(select(Decision).where(Decision.kind == "capture"))}
    for sub_id in ids:
        sub = submission(crm_env, sub_id)
        [lead] = [row for row in leads if str(row.get("person_id")) == sub.record_id]
        assert lead["title"] == f"{person(ids.index(sub_id))['first_name']} Lovelace (web form)"
        assert str(lead["owner_id"]) == str(routes[sub.record_id].inputs["owner_id"])  # the routed owner's
        assert captures[sub.record_id].inputs["inbox_lead_id"] == lead["id"]
        assert "with a lead in the leads inbox" in captures[sub.record_id].reason
    again = submit(crm_env, tenant_id, {**person(0), "message": "Again"})
    assert process_submission(tenant_id, again) == UPDATED  # a person who comes back gets no second lead
    assert len(rows(crm_sandbox, account, "leads")) == len(leads)
