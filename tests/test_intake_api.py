"""Every answer of POST /intake/v1/<key>/submissions and of its status read; what is stored and what is queued.

The `process_submission` job is another part of the capture work: these tests check that it is ENQUEUED with the
stored submission's id, never run it.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import func, select

from integration.db import session_scope
from integration.models import IntakeSubmission, Tenant
from marketplace import intake_keys
from marketplace.intake_api import enqueue_held
from tests.intake_helpers import queued_submissions, signed, tenant_with_key

JOB = "integration.jobs.process_submission"


@pytest.fixture()
def acme(app, env):
    return tenant_with_key(env["DATABASE_URL"], origins=["https://www.acme.test"],
                           aliases={"your-email": "email", "your-name": "name"})


def rows(env, tenant_id: int | None = None) -> list[IntakeSubmission]:
    with session_scope(env["DATABASE_URL"]) as s:
        stmt = select(IntakeSubmission).order_by(IntakeSubmission.id)
        if tenant_id is not None:
            stmt = stmt.where(IntakeSubmission.tenant_id == tenant_id)
        found = list(s.scalars(stmt))
        s.expunge_all()
        return found


def test_a_json_submission_is_stored_accepted_and_queued(client, env, acme):
    resp = client.post(acme["url"], json={"email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
                                          "utm_source": "google", "consent": "yes", "favourite": "engines",
                                          "nested": {"a": 1}})
    assert resp.status_code == 202, resp.get_json()
    answer = resp.get_json()
    assert answer["status"] == "accepted" and answer["submission_id"].startswith("sub_")
    [row] = rows(env)
    assert row.public_id == answer["submission_id"] and row.status == "accepted" and row.tenant_id == acme["tenant"]
    assert row.fields == {"email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
                          "utm_source": "google", "consent": True}
    assert row.extra == {"favourite": "engines", "nested": '{"a": 1}'} and row.key_id == acme["key_id"]
    assert queued_submissions(env["REDIS_URL"]) == [(JOB, (acme["tenant"], row.id))]


def test_a_plain_html_form_with_aliases_a_full_name_and_too_many_unknown_fields(client, env, acme):
    form = {"your-email": "grace@navy.test", "your-name": "Grace Brewster Hopper", "phone": "+1 (214) 555-0100",
            "consent": "on", **{f"q{i}": ("x" * 2500 if i < 3 else "y") for i in range(60)}}
    resp = client.post(acme["url"], data=form, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 202
    [row] = rows(env)
    assert row.fields == {"email": "grace@navy.test", "first_name": "Grace Brewster", "last_name": "Hopper",
                          "phone": "+1 (214) 555-0100", "consent": True}
    assert list(row.extra) == [f"q{i}" for i in range(50)]  # the first 50 unknown fields, 2,000 characters each
    assert [len(v) for v in row.extra.values()][:4] == [2000, 2000, 2000, 1]
    multipart = client.post(acme["url"], data={"email": "m@acme.test", "name": "Cher"},
                            content_type="multipart/form-data")
    assert multipart.status_code == 202
    assert rows(env)[-1].fields == {"email": "m@acme.test", "last_name": "Cher"}
    assert len(queued_submissions(env["REDIS_URL"])) == 2


@pytest.mark.parametrize(("body", "fields"), [
    ({"email": "not-an-email"}, {"email": "not an email address"}),
    ({"email": "a@b.test", "phone": "call me"}, {"phone": "not a phone number"}),
    ({"first_name": "Nobody"}, {"email": "an email address or a phone number is needed",
                                "phone": "a phone number or an email address is needed"}),
    ({"email": "a@b.test", "consent": "perhaps"}, {"consent": "not a yes or no"}),
    ({"email": "a@b.test", "company": "x" * 301}, {"company": "longer than 300 characters"}),
    ({"email": ["a@b.test"]}, {"email": "must be text, not a list or an object",
                               "phone": "a phone number or an email address is needed"}),
])
def test_unusable_input_is_400_with_a_message_per_field(client, env, acme, body, fields):
    resp = client.post(acme["url"], json=body)
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "some fields cannot be used", "fields": fields}
    assert rows(env) == [] and queued_submissions(env["REDIS_URL"]) == []


@pytest.mark.parametrize(("data", "content_type", "error"), [
    (b'{"email": "a@b.test"', "application/json", "the body is not valid JSON"),
    (b'["a@b.test"]', "application/json", "the body must be a JSON object of field names and values"),
    (b"[" * 50 + b"]" * 50, "application/json", "the JSON is nested too deep"),
    (b"email=a%40b.test", "application/xml", "send application/json, application/x-www-form-urlencoded or "
                                             "multipart/form-data"),
    (b"email=\xff\xfe", "application/x-www-form-urlencoded", "the form is not UTF-8"),
])
def test_a_malformed_body_is_400(client, env, acme, data, content_type, error):
    resp = client.post(acme["url"], data=data, content_type=content_type)
    assert resp.status_code == 400 and resp.get_json()["error"] == error
    assert rows(env) == []


def test_over_64_kb_is_413(client, env, acme):
    resp = client.post(acme["url"], json={"email": "a@b.test", "message": "x" * (64 * 1024)})
    assert resp.status_code == 413 and "64 KB" in resp.get_json()["error"]
    assert rows(env) == []


def test_unknown_revoked_rotated_and_uninstalled_keys_get_the_same_401(app, client, env, acme):
    gone = tenant_with_key(env["DATABASE_URL"], name="Gone", status="uninstalled")
    with session_scope(env["DATABASE_URL"]) as s:
        intake_keys.rotate(s, acme["tenant"], "ada@acme.test")
        new = intake_keys.reveal(intake_keys.active_key(s, acme["tenant"]))
    answers = []
    for url in ("/intake/v1/" + "A" * 32 + "/submissions", acme["url"], gone["url"], "/intake/v1/short/submissions"):
        resp = client.post(url, json={"email": "a@b.test"})
        answers.append((resp.status_code, resp.get_json()))
    assert answers == [(401, {"error": "unknown or revoked intake key"})] * 4
    assert client.post(f"/intake/v1/{new.key}/submissions", json={"email": "a@b.test"}).status_code == 202
    with session_scope(env["DATABASE_URL"]) as s:
        assert intake_keys.revoke(s, acme["tenant"], "ada@acme.test")
    assert client.post(f"/intake/v1/{new.key}/submissions", json={"email": "a@b.test"}).status_code == 401
    assert len(rows(env)) == 1


def _same_minute() -> None:
    """The limits count in windows of a clock minute: start a burst well inside one."""
    if time.time() % 60 > 55:
        time.sleep(60 - time.time() % 60 + 0.1)


def test_past_the_per_ip_limit_429_with_retry_after(app, client, env, acme, monkeypatch):
    monkeypatch.setenv("LEADRELAY_INTAKE_IP_PER_MINUTE", "3")
    _same_minute()
    answers = [client.post(acme["url"], json={"email": f"p{i}@b.test"}) for i in range(5)]
    assert [r.status_code for r in answers] == [202, 202, 202, 429, 429]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 61
    assert answers[3].get_json() == {"error": "too many submissions: try again later"}
    # another client address still gets in; unknown keys count against the address too
    assert client.post(acme["url"], json={"email": "o@b.test"},
                       environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 202
    assert client.post("/intake/v1/" + "C" * 32 + "/submissions", json={}).status_code == 429
    assert len(rows(env)) == 4


def test_past_the_per_key_limit_429_whatever_the_address(app, client, env, acme, monkeypatch):
    monkeypatch.setenv("LEADRELAY_INTAKE_KEY_PER_MINUTE", "2")
    _same_minute()
    answers = [client.post(acme["url"], json={"email": f"k{i}@b.test"}, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
               for i in range(4)]
    assert [r.status_code for r in answers] == [202, 202, 429, 429] and int(answers[2].headers["Retry-After"]) >= 1
    other = tenant_with_key(env["DATABASE_URL"], name="Other")  # another key has its own allowance
    assert client.post(other["url"], json={"email": "x@b.test"},
                       environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 202


def test_an_idempotent_repeat_gets_the_first_answer_and_writes_nothing(client, env, acme):
    first = client.post(acme["url"], json={"email": "a@b.test"}, headers={"Idempotency-Key": "order-77"})
    again = client.post(acme["url"], json={"email": "changed@b.test"}, headers={"Idempotency-Key": "order-77"})
    field = client.post(acme["url"], data={"email": "c@b.test", "idempotency_key": "order-77"})
    assert first.status_code == again.status_code == field.status_code == 202
    assert first.get_json() == again.get_json() == field.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    [row] = rows(env)
    assert row.fields["email"] == "a@b.test" and len(queued_submissions(env["REDIS_URL"])) == 1
    # after 24 hours the same key is a new submission
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(IntakeSubmission, row.id).received_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    later = client.post(acme["url"], json={"email": "d@b.test"}, headers={"Idempotency-Key": "order-77"})
    assert later.status_code == 202 and later.get_json()["submission_id"] != first.get_json()["submission_id"]
    assert len(rows(env)) == 2 and len(queued_submissions(env["REDIS_URL"])) == 2


def test_racing_repeats_of_one_idempotency_key_store_one_submission(app, env, acme):
    barrier, answers = threading.Barrier(6), []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(acme["url"], json={"email": "race@b.test"}, headers={"Idempotency-Key": "race-1"})
        answers.append((resp.status_code, resp.get_json()["submission_id"]))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 6 and {a[0] for a in answers} == {202} and len({a[1] for a in answers}) == 1
    assert len(rows(env)) == 1 and len(queued_submissions(env["REDIS_URL"])) == 1


def test_a_filled_honeypot_is_202_stored_as_spam_not_queued_and_counted(client, env, acme):
    resp = client.post(acme["url"], data={"email": "bot@spam.test", "lr_hp": "http://buy.example"})
    assert resp.status_code == 202 and resp.get_json()["status"] == "accepted"
    [row] = rows(env)
    assert (row.status, row.spam_reason) == ("spam", "honeypot") and queued_submissions(env["REDIS_URL"]) == []
    with session_scope(env["DATABASE_URL"]) as s:
        assert intake_keys.counts_today(s, acme["tenant"]) == {"total": 1, "spam": 1}


def test_the_signed_display_time_marks_a_form_sent_too_fast_or_forged_as_spam(client, env, acme):
    now = int(time.time())
    fast = client.post(acme["url"], data={"email": "a@b.test", "lr_ts": intake_keys.sign_stamp(acme["secret"], now)})
    forged = client.post(acme["url"], data={"email": "b@b.test", "lr_ts": intake_keys.sign_stamp("guess", now - 60)})
    human = client.post(acme["url"], data={"email": "c@b.test",
                                           "lr_ts": intake_keys.sign_stamp(acme["secret"], now - 20)})
    assert fast.status_code == forged.status_code == human.status_code == 202
    assert [(r.status, r.spam_reason) for r in rows(env)] == [("spam", "too-fast"), ("spam", "bad-timestamp"),
                                                             ("accepted", None)]
    assert [args[1] for _n, args in queued_submissions(env["REDIS_URL"])] == [rows(env)[2].id]
    # the snippet's script asks for a fresh stamp when the page shows the form
    stamp = client.get(acme["url"].replace("/submissions", "/form-stamp")).get_json()["lr_ts"]
    assert intake_keys.stamp_problem(acme["secret"], stamp, time.time()) == "too-fast"
    assert intake_keys.stamp_problem(acme["secret"], stamp, time.time() + 4) is None


def test_cors_only_for_the_keys_allowed_origins(client, env, acme):
    headers = {"Origin": "https://www.acme.test", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
    ok = client.options(acme["url"], headers=headers)
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == "https://www.acme.test"
    assert "Content-Type" in ok.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in ok.headers
    denied = client.options(acme["url"], headers={**headers, "Origin": "https://evil.test"})
    assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied.headers
    assert client.options("/intake/v1/" + "B" * 32 + "/submissions", headers=headers).status_code == 401
    post = client.post(acme["url"], json={"email": "a@b.test"}, headers={"Origin": "https://www.acme.test"})
    assert post.headers["Access-Control-Allow-Origin"] == "https://www.acme.test"
    elsewhere = client.post(acme["url"], json={"email": "a@b.test"}, headers={"Origin": "https://evil.test"})
    assert elsewhere.status_code == 202 and "Access-Control-Allow-Origin" not in elsewhere.headers
    bad = client.post(acme["url"], json={"email": "nope"}, headers={"Origin": "https://www.acme.test"})
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == "https://www.acme.test"


def test_a_plain_form_may_go_on_to_a_thank_you_page_on_an_allowed_origin(client, env, acme):
    back = client.post(acme["url"], data={"email": "a@b.test", "lr_redirect": "https://www.acme.test/thanks"})
    assert back.status_code == 303 and back.headers["Location"] == "https://www.acme.test/thanks"
    elsewhere = client.post(acme["url"], data={"email": "b@b.test", "lr_redirect": "https://evil.test/"})
    assert elsewhere.status_code == 202 and len(rows(env)) == 2


def test_server_to_server_signatures_good_bad_and_stale(client, env, acme, monkeypatch):
    monkeypatch.setenv("LEADRELAY_INTAKE_IP_PER_MINUTE", "1")
    body = json.dumps({"email": "api@b.test", "source": "api"}).encode()
    for _ in range(3):  # a signed server is not held to the per-address limit of browsers
        good = client.post(acme["url"], data=body, content_type="application/json",
                           headers=signed(acme["secret"], body))
        assert good.status_code == 202
    wrong = client.post(acme["url"], data=body, content_type="application/json", headers=signed("not-it", body))
    stale = client.post(acme["url"], data=body, content_type="application/json",
                        headers=signed(acme["secret"], body, int(time.time()) - 301))
    tampered = client.post(acme["url"], data=body.replace(b"api@", b"evil@"), content_type="application/json",
                           headers=signed(acme["secret"], body))
    for resp in (wrong, stale, tampered):
        assert resp.status_code == 401 and "signature" in resp.get_json()["error"]
    assert len(rows(env)) == 3


def test_a_signed_caller_reads_its_submissions_status_unsigned_gets_401(client, env, acme):
    submission_id = client.post(acme["url"], json={"email": "a@b.test"}).get_json()["submission_id"]
    url = f"{acme['url']}/{submission_id}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=signed("not-it", b"")).status_code == 401
    resp = client.get(url, headers=signed(acme["secret"], b""))
    assert resp.status_code == 200 and resp.get_json() == {"submission_id": submission_id, "status": "accepted",
                                                           "record_id": None, "record_url": None, "error": None}
    other = tenant_with_key(env["DATABASE_URL"], name="Other")
    theirs = client.post(other["url"], json={"email": "b@b.test"}).get_json()["submission_id"]
    assert client.get(f"{acme['url']}/{theirs}", headers=signed(acme["secret"], b"")).status_code == 404
    assert client.get(f"{acme['url']}/sub_nope", headers=signed(acme["secret"], b"")).status_code == 404


def test_a_paused_tenants_submissions_wait_until_it_is_reconnected(app, client, env):
    paused = tenant_with_key(env["DATABASE_URL"], name="Paused", status="reauth_required")
    resp = client.post(paused["url"], json={"email": "a@b.test"})
    assert resp.status_code == 202 and queued_submissions(env["REDIS_URL"]) == []
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, paused["tenant"]).status = "active"
        assert enqueue_held(s, paused["tenant"]) == 1
    [row] = rows(env)
    assert queued_submissions(env["REDIS_URL"]) == [(JOB, (paused["tenant"], row.id))]


def test_a_worker_start_queues_every_waiting_submission_of_an_active_tenant(client, env, acme):
    """A post stored while its enqueue failed (Redis down) or whose job a crash lost is queued at the next start."""
    from redis import Redis

    from integration.intake.submissions import resume_submissions

    assert client.post(acme["url"], json={"email": "a@b.test"}).status_code == 202
    paused = tenant_with_key(env["DATABASE_URL"], name="Paused", status="reauth_required")
    assert client.post(paused["url"], json={"email": "c@d.test"}).status_code == 202
    Redis.from_url(env["REDIS_URL"]).flushdb()  # the queued job is lost
    assert queued_submissions(env["REDIS_URL"]) == []
    with session_scope(env["DATABASE_URL"]) as s:
        assert resume_submissions(s) == 1  # the active tenant's; the paused one's waits for its reconnect
        assert resume_submissions(s) == 1  # again: the same job id, still one job waiting
    [row] = rows(env, acme["tenant"])
    assert queued_submissions(env["REDIS_URL"]) == [(JOB, (acme["tenant"], row.id))]


def test_each_tenant_sees_only_its_own_submissions(client, env, acme):
    other = tenant_with_key(env["DATABASE_URL"], name="Other")
    client.post(acme["url"], json={"email": "a@b.test"}, headers={"Idempotency-Key": "same"})
    resp = client.post(other["url"], json={"email": "b@b.test"}, headers={"Idempotency-Key": "same"})
    assert resp.status_code == 202 and "Idempotent-Replayed" not in resp.headers  # keys are per tenant
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(func.count()).select_from(IntakeSubmission)
                        .where(IntakeSubmission.tenant_id == other["tenant"])) == 1


@pytest.fixture()
def pg_app(env, postgres_url, monkeypatch):
    """The app on PostgreSQL: its unique-constraint race and its grouped counts behave unlike SQLite's."""
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    env = {**env, "DATABASE_URL": postgres_url}
    from app import create_app

    return create_app({"TESTING": True}), env


def test_on_postgresql_racing_repeats_store_one_submission_and_spam_is_counted(pg_app):
    app, env = pg_app
    acme = tenant_with_key(env["DATABASE_URL"])
    barrier, answers = threading.Barrier(6), []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(acme["url"], json={"email": "race@b.test"}, headers={"Idempotency-Key": "race-pg"})
        answers.append((resp.status_code, resp.get_json()["submission_id"]))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a[0] for a in answers} == {202} and len({a[1] for a in answers}) == 1 and len(answers) == 6
    client = app.test_client()
    assert client.post(acme["url"], data={"email": "bot@b.test", "lr_hp": "x"}).status_code == 202
    # PostgreSQL's text refuses NUL: it is removed before the value is judged and stored
    assert client.post(acme["url"], json={"email": "Ac\x00me@b.test"}).status_code == 202
    with session_scope(env["DATABASE_URL"]) as s:
        assert intake_keys.counts_today(s, acme["tenant"]) == {"total": 3, "spam": 1}
        assert s.scalar(select(IntakeSubmission.fields).order_by(IntakeSubmission.id.desc()).limit(1)) == {
            "email": "Acme@b.test"}
    assert len(queued_submissions(env["REDIS_URL"])) == 2
