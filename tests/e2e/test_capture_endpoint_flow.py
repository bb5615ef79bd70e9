"""Issue #19's "Done when", through the real intake endpoint on each CRM: a form post creates one record, enriched
(a +1 214 phone gives America/Chicago, a gmail address gives "free"), routed with its SLA task; the same person again
updates that record with a note and a "came back" task; a replay with the same Idempotency-Key changes nothing; a
honeypot post writes nothing; two identical posts sent at once create one record."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from adapters.subscriptions import ensure_tenant_fields
from integration.db import session_scope
from integration.models import SlaTimer
from integration.models.capture import CREATED, SPAM, UPDATED, IntakeSubmission
from marketplace import intake_keys
from tests.crm_helpers import install_with_rules
from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.e2e.test_capture_flow import AGAIN, FIRST, LEAD_OBJECT, OWNERS, PLATFORMS, RULES, TABLES, rows, run_intake

pytestmark = pytest.mark.e2e


@pytest.fixture()
def installed(crm_env, app, crm_sandbox):
    """(tenant id, sandbox account): installed through OAuth with the capture rules, LeadRelay's fields created as the
    install's job does; HubSpot's search lagging 5 s behind a create, as in production."""
    crm_sandbox.sandbox.config.update({"search_lag_ms": 5000})

    def make(platform: str) -> tuple[int, dict]:
        tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform,
                                                RULES, f"Form {platform}", OWNERS)
        ensure_tenant_fields(tenant_id)
        return tenant_id, account
    return make


def key_of(env, tenant_id: int) -> str:
    with session_scope(env["DATABASE_URL"]) as s:
        return intake_keys.reveal(intake_keys.ensure_key(s, tenant_id)).key


def post(client, key: str, fields: dict, **headers):
    return client.post(f"/intake/v1/{key}/submissions", json=fields, headers=headers)


def submission(env, public_id: str) -> IntakeSubmission:
    with session_scope(env["DATABASE_URL"]) as s:
        row = s.scalar(select(IntakeSubmission).where(IntakeSubmission.public_id == public_id))
        s.expunge(row)
        return row


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_form_post_lands_once_enriched_routed_and_a_return_updates_it(installed, crm_env, crm_sandbox, app,
                                                                      platform):
    tenant_id, account = installed(platform)
    key, web = key_of(crm_env, tenant_id), app.test_client()
    people, notes, tasks = TABLES[platform]
    first = {k: v for k, v in FIRST.items() if k not in ("state", "city")}  # the phone says where (Dallas, TX)

    answer = post(web, key, first, **{"Idempotency-Key": f"form-{platform}-1"})
    assert answer.status_code == 202 and answer.get_json()["status"] == "accepted"
    run_intake(crm_env)
    created = submission(crm_env, answer.get_json()["submission_id"])
    assert created.status == CREATED and created.record_id
    assert len(rows(crm_sandbox, account, people)) == 1
    with session_scope(crm_env["DATABASE_URL"]) as s:  # routed with its SLA task
        assert s.scalar(select(SlaTimer).where(SlaTimer.tenant_id == tenant_id,
                                               SlaTimer.object_id == created.record_id)) is not None
    from adapters.factory import build_adapter

    record = build_adapter(tenant_id).get_record(LEAD_OBJECT[platform], created.record_id)
    assert record.owner_id  # an owner in the CRM
    assert record.fields.get("leadrelay_timezone") == "America/Chicago"  # from the +1 214 phone
    assert record.fields.get("leadrelay_email_type") == "free"  # gmail.com
    assert "phone" in (record.fields.get("leadrelay_enriched") or "")

    # the replay of the same post: the first answer, nothing written
    replay = post(web, key, first, **{"Idempotency-Key": f"form-{platform}-1"})
    assert replay.status_code == 202 and replay.get_json() == answer.get_json()
    run_intake(crm_env)
    assert len(rows(crm_sandbox, account, people)) == 1 and len(rows(crm_sandbox, account, notes)) == 1

    # a bot fills the honeypot: accepted as far as it can tell, nothing written anywhere in the CRM
    bot = post(web, key, {**first, "email": "bot@spam.example", "lr_hp": "http://spam.example"})
    assert bot.status_code == 202
    run_intake(crm_env)
    assert submission(crm_env, bot.get_json()["submission_id"]).status == SPAM
    assert len(rows(crm_sandbox, account, people)) == 1

    # the same person again, written differently: that record is updated, a note, a "came back" task
    tasks_before = len(rows(crm_sandbox, account, tasks))
    again = post(web, key, AGAIN)
    run_intake(crm_env)
    updated = submission(crm_env, again.get_json()["submission_id"])
    assert updated.status == UPDATED and updated.record_id == created.record_id
    assert len(rows(crm_sandbox, account, people)) == 1
    assert any("any news on the order" in str(n) for n in rows(crm_sandbox, account, notes))
    assert len(rows(crm_sandbox, account, tasks)) == tasks_before + 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_two_identical_posts_at_once_make_one_record(installed, crm_env, crm_sandbox, app, platform):
    tenant_id, account = installed(platform)
    key = key_of(crm_env, tenant_id)
    answers = []

    def send() -> None:
        answers.append(post(app.test_client(), key, {**FIRST, "email": "twins@gmail.com"}))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [202, 202]
    # two worker processes take the two jobs at the same time (the lock on the person's email and phone decides)
    ids = [a.get_json()["submission_id"] for a in answers]
    workers = [start_worker(crm_env), start_worker(crm_env)]
    try:
        wait_for(lambda: all(submission(crm_env, i).status != "accepted" for i in ids), timeout=60,
                 what="both posts processed")
    finally:
        for worker in workers:
            stop_worker(worker)
    people = [p for p in rows(crm_sandbox, account, TABLES[platform][0]) if "twins" in str(p).lower()]
    assert len(people) == 1, people
    states = {submission(crm_env, a.get_json()["submission_id"]).status for a in answers}
    assert states <= {CREATED, UPDATED} and CREATED in states
