"""Web-form submissions in each CRM, through the capture job and the adapters against the sandbox: a new person is
created once, noted, routed with the SLA task; the same person again (written differently) updates that record
with a note and a "came back" task; two identical submissions at once create one record; a retry after a failure
mid-way creates nothing twice; LeadRelay's own create, when its webhook comes back, is not routed again."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.intake.submissions import enqueue_submission, process_submission
from integration.models import Decision, ReviewItem, SlaTimer
from integration.models.capture import CREATED, UPDATED, IntakeSubmission
from integration.records import Event
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.workers import BurstWorker

pytestmark = pytest.mark.e2e
OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": "America/New_York"},
          {"email": "ben.owner@leadrelay.test", "name": "Ben Owner", "timezone": "Europe/Berlin"}]
FIRST_TOUCH = {"first_touch": "1h", "business_hours": False}
RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": o["email"]} for o in OWNERS],
    "pools": {"team": {"strategy": "round_robin", "members": [{"owner": o["email"]} for o in OWNERS]}},
    "routing": [{"name": "Texas", "when": {"state": ["TX"]}, "assign": {"owner": OWNERS[1]["email"]}},
                {"name": "Everyone else", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "fallback": {"review": True},
    "sla": {"hot": FIRST_TOUCH, "warm": FIRST_TOUCH, "nurture": FIRST_TOUCH},
    "returning": {"on_return": "task"},
}
PLATFORMS = ["hubspot", "salesforce", "pipedrive"]
LEAD_OBJECT = {"hubspot": "contact", "salesforce": "lead", "pipedrive": "contact"}
# the sandbox's own names (control API) for the lead object, notes and tasks
TABLES = {"hubspot": ("contacts", "notes", "tasks"), "salesforce": ("Lead", "Note", "Task"),
          "pipedrive": ("persons", "notes", "activities")}
FIRST = {"first_name": "Grace", "last_name": "Hopper", "email": "grace.hopper@gmail.com",
         "phone": "+1 214 555 0134", "company": "Navy", "state": "TX", "country": "US", "city": "Dallas",
         "message": "Please call me about the spring fleet order", "utm_source": "google", "utm_medium": "cpc",
         "utm_campaign": "spring", "page_url": "https://navy.example/contact", "consent": "yes"}
# the same person again: email in other case, with a plus tag and without Gmail's dots; phone in another format
AGAIN = {**FIRST, "email": "GraceHopper+spring@GMAIL.com", "phone": "(214) 555-0134",
         "message": "Second message: any news on the order?", "page_url": "https://navy.example/pricing"}


@pytest.fixture()
def tenant_for(crm_env, app, crm_sandbox):
    # HubSpot's search does not see a record for a few seconds after its creation: the index must
    crm_sandbox.sandbox.config.update({"search_lag_ms": 5000})

    def make(platform: str) -> tuple[int, dict]:
        return install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform, RULES,
                                  f"Capture {platform}", OWNERS)
    return make


def submit(env, tenant_id: int, fields: dict, extra: dict | None = None) -> int:
    """What the intake endpoint stores (it has its own tests): one accepted submission."""
    with session_scope(env["DATABASE_URL"]) as s:
        sub = IntakeSubmission(tenant_id=tenant_id, public_id=uuid.uuid4().hex, fields=dict(fields),
                               extra=dict(extra or {}))
        s.add(sub)
        s.flush()
        return sub.id


def run_intake(env) -> None:
    BurstWorker(["intake"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def rows(server, account: dict, table: str) -> list[dict]:
    resp = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{table}")
    resp.raise_for_status()
    return resp.json()["results"]


def calls(server, account: dict) -> list[dict]:
    return browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/calls").json()["calls"]


def submission(env, sub_id: int) -> IntakeSubmission:
    with session_scope(env["DATABASE_URL"]) as s:
        return s.get(IntakeSubmission, sub_id)


def _contacts_of(engagement: dict) -> set[str]:
    """The contact ids a HubSpot note or task is associated to."""
    return {str(a["id"]) for a in engagement.get("associations", {}).get("contacts", {}).get("results", [])}


def notes_on(platform: str, notes: list[dict], record_id: str) -> list[str]:
    """The text of the notes attached to the record."""
    if platform == "hubspot":
        return [n["properties"]["hs_note_body"] for n in notes if record_id in _contacts_of(n)]
    if platform == "salesforce":
        return [n["Body"] for n in notes if n["ParentId"][:15] == record_id[:15]]
    return [n["content"] for n in notes if str(n["person_id"]) == record_id]


def tasks_on(platform: str, tasks: list[dict], record_id: str) -> list[tuple[str, str]]:
    """(subject, owner id) of the tasks on the record."""
    if platform == "hubspot":
        return [(t["properties"]["hs_task_subject"], t["properties"].get("hubspot_owner_id")) for t in tasks
                if record_id in _contacts_of(t)]
    if platform == "salesforce":
        return [(t["Subject"], t["OwnerId"]) for t in tasks if (t.get("WhoId") or "")[:15] == record_id[:15]]
    return [(t["subject"], str(t.get("owner_id") or t.get("user_id"))) for t in tasks
            if str(t.get("person_id")) == record_id]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_submission_creates_one_record_routed_and_the_same_person_again_updates_it(
        tenant_for, crm_env, crm_sandbox, platform):
    tenant_id, account = tenant_for(platform)
    lead_table, note_table, task_table = TABLES[platform]
    before = len(rows(crm_sandbox, account, lead_table))
    calls_before = len(calls(crm_sandbox, account))
    first = submit(crm_env, tenant_id, FIRST, extra={"favourite_ship": "USS Hopper"})
    enqueue_submission(tenant_id, first)
    run_intake(crm_env)
    created_calls = calls(crm_sandbox, account)[calls_before:]

    sub = submission(crm_env, first)
    assert sub.status == CREATED, sub.error
    record_id = sub.record_id
    assert len(rows(crm_sandbox, account, lead_table)) == before + 1
    with session_scope(crm_env["DATABASE_URL"]) as s:
        route = s.scalar(select(Decision).where(Decision.kind == "route", Decision.object_id == record_id))
        capture = s.scalar(select(Decision).where(Decision.kind == "capture"))
        timer = s.scalar(select(SlaTimer).where(SlaTimer.object_id == record_id))
    assert route.outcome == "ben.owner@leadrelay.test", route.reason  # Texas
    assert capture.reason == ("New lead from the web form (page https://navy.example/contact): created, "
                              "routed to Ben Owner")
    from adapters.factory import build_adapter

    adapter = build_adapter(tenant_id)
    record = adapter.get_record(LEAD_OBJECT[platform], record_id)
    assert record.owner_id == route.inputs["owner_id"]
    assert record.fields["email"] == "grace.hopper@gmail.com"
    assert timer is not None and timer.task_id  # the SLA task for the owner
    assert (timer.owner_id, len(tasks_on(platform, rows(crm_sandbox, account, task_table), record_id))) == (
        route.inputs["owner_id"], 1)
    [note] = notes_on(platform, rows(crm_sandbox, account, note_table), record_id)
    for text in ("Please call me about the spring fleet order", "spring", "https://navy.example/contact",
                 "favourite_ship: USS Hopper"):
        assert text in note
    print(f"\n{platform}: CRM calls for a new person's submission: {len(created_calls)} "
          f"({', '.join(c['method'] + ' ' + c['path'] for c in created_calls)})")

    # the webhook of LeadRelay's own create comes back: recognised, nothing routed or written again
    calls_before = len(calls(crm_sandbox, account))
    with session_scope(crm_env["DATABASE_URL"]) as s:
        record_events(s, tenant_id, [Event(platform=platform, account_id="", object_type=LEAD_OBJECT[platform],
                                           object_id=record_id, kind="created", occurred_at=dt.datetime.now(dt.UTC),
                                           event_id=f"capture-echo-{record_id}")])
    enqueue_drain(tenant_id)
    run_intake(crm_env)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(Decision).where(Decision.kind == "route")).all()) == 1
    writes = [c for c in calls(crm_sandbox, account)[calls_before:] if c["method"] in ("PATCH", "PUT", "POST")
              and not any(read in c["path"] for read in ("search", "query", "batch/read"))]
    assert writes == []

    # the same person again, seconds later (HubSpot's search does not see the record yet; the index does)
    calls_before = len(calls(crm_sandbox, account))
    again = submit(crm_env, tenant_id, AGAIN)
    enqueue_submission(tenant_id, again)
    run_intake(crm_env)
    again_calls = calls(crm_sandbox, account)[calls_before:]
    sub = submission(crm_env, again)
    assert (sub.status, sub.record_id) == (UPDATED, record_id), sub.error
    assert len(rows(crm_sandbox, account, lead_table)) == before + 1  # no new record
    notes = notes_on(platform, rows(crm_sandbox, account, note_table), record_id)
    assert len(notes) == 2 and any("Second message: any news on the order?" in n for n in notes)
    came_back = [t for t in tasks_on(platform, rows(crm_sandbox, account, task_table), record_id)
                 if t[0].startswith("Came back")]
    assert came_back == [("Came back: Grace Hopper", route.inputs["owner_id"])]
    with session_scope(crm_env["DATABASE_URL"]) as s:
        decision = s.scalar(select(Decision).where(Decision.kind == "capture", Decision.outcome == UPDATED))
        assert len(s.scalars(select(Decision).where(Decision.kind == "route")).all()) == 1  # not routed again
    assert decision.reason == "Came back: matched Grace Hopper (same email): note and task for Ben Owner"
    print(f"{platform}: CRM calls for a returning person's submission: {len(again_calls)} "
          f"({', '.join(c['method'] + ' ' + c['path'] for c in again_calls)})")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_two_identical_submissions_at_once_create_one_record(tenant_for, crm_env, crm_sandbox, platform):
    tenant_id, account = tenant_for(platform)
    lead_table = TABLES[platform][0]
    before = len(rows(crm_sandbox, account, lead_table))
    ids = [submit(crm_env, tenant_id, FIRST), submit(crm_env, tenant_id, FIRST)]
    for sub_id in ids:  # two jobs (their own ids), two worker processes taking one each
        enqueue_submission(tenant_id, sub_id)
    workers = [start_worker(crm_env), start_worker(crm_env)]
    try:
        wait_for(lambda: all(submission(crm_env, i).status != "accepted" for i in ids), timeout=60,
                 what="both submissions processed")
    finally:
        for worker in workers:
            stop_worker(worker)
    subs = [submission(crm_env, i) for i in ids]
    assert sorted(s.status for s in subs) == [CREATED, UPDATED], [s.error for s in subs]
    assert subs[0].record_id == subs[1].record_id
    assert len(rows(crm_sandbox, account, lead_table)) == before + 1
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert s.scalars(select(ReviewItem)).all() == []
        routes = s.scalars(select(Decision).where(Decision.kind == "route")).all()
        came_back = s.scalar(select(Decision).where(Decision.kind == "capture", Decision.outcome == UPDATED))
    assert len(routes) == 1  # routed once; the twin told its owner it came back
    assert came_back.reason == "Came back: matched Grace Hopper (same email): note and task for Ben Owner"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_job_failing_after_the_create_is_retried_without_a_second_record(tenant_for, crm_env, crm_sandbox,
                                                                            platform, monkeypatch):
    tenant_id, account = tenant_for(platform)
    lead_table, note_table, _ = TABLES[platform]
    before = len(rows(crm_sandbox, account, lead_table))
    from adapters.factory import build_adapter

    adapter_class = type(build_adapter(tenant_id))
    real_creates, real_create = adapter_class.create_records, adapter_class.create_record

    def outage_once_created(made):
        # the CRM takes the record, then answers every later call with a 500 (an outage mid-job)
        if made:
            crm_sandbox.sandbox.config.update({"error_rate": 1.0})

    def creates_then_outage(self, *args, **kwargs):
        results = real_creates(self, *args, **kwargs)
        outage_once_created(any(isinstance(r, str) for r in results))
        return results

    def create_then_outage(self, *args, **kwargs):  # the record made alone (its LeadRelay fields refused)
        record_id = real_create(self, *args, **kwargs)
        outage_once_created(True)
        return record_id

    monkeypatch.setattr(adapter_class, "create_records", creates_then_outage)
    monkeypatch.setattr(adapter_class, "create_record", create_then_outage)
    sub_id = submit(crm_env, tenant_id, FIRST)
    from integration.errors import CRMTransient

    with pytest.raises(CRMTransient):
        process_submission(tenant_id, sub_id)
    assert submission(crm_env, sub_id).status == "accepted"  # not lost: RQ retries it
    assert submission(crm_env, sub_id).record_id  # the id was kept before the failing call
    crm_sandbox.sandbox.config.update({"error_rate": 0.0})
    monkeypatch.setattr(adapter_class, "create_records", real_creates)
    monkeypatch.setattr(adapter_class, "create_record", real_create)

    assert process_submission(tenant_id, sub_id) == CREATED  # the retry
    assert process_submission(tenant_id, sub_id) == CREATED  # and a re-delivery changes nothing
    record_id = submission(crm_env, sub_id).record_id
    assert len(rows(crm_sandbox, account, lead_table)) == before + 1
    assert len(notes_on(platform, rows(crm_sandbox, account, note_table), record_id)) == 1
    with session_scope(crm_env["DATABASE_URL"]) as s:
        route = s.scalar(select(Decision).where(Decision.kind == "route", Decision.object_id == record_id))
    assert route.outcome == "ben.owner@leadrelay.test"


def test_a_submission_whose_every_retry_fails_says_so(tenant_for, crm_env, crm_sandbox, monkeypatch):
    """An outage longer than the job's retries: the submission is marked failed with the reason (never left
    "accepted" for ever), and its fields stay for an admin or a later re-run."""
    tenant_id, _account = tenant_for("hubspot")
    monkeypatch.setenv("LEADRELAY_JOB_RETRIES", "0")  # this job's attempt is its last
    sub_id = submit(crm_env, tenant_id, FIRST)
    crm_sandbox.sandbox.config.update({"error_rate": 1.0})
    try:
        enqueue_submission(tenant_id, sub_id)
        run_intake(crm_env)
    finally:
        crm_sandbox.sandbox.config.update({"error_rate": 0.0})
    failed = submission(crm_env, sub_id)
    assert failed.status == "failed" and failed.error.startswith("gave up after every retry: CRM")
    assert failed.fields["email"] == FIRST["email"]

