"""Attacks on the public intake endpoint: guessed and malformed keys, borrowed secrets, sessions, CORS, hostile
bodies. Every one is answered with a 4xx (or a quiet 202 for spam), never a 5xx, never another tenant's data."""
from __future__ import annotations

import json
import logging
import os
import random
import time

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import IntakeSubmission
from tests.console_helpers import add_members, sign_in
from tests.intake_helpers import queued_submissions, signed, tenant_with_key


@pytest.fixture()
def two(app, env):
    return (tenant_with_key(env["DATABASE_URL"], name="Acme", origins=["https://www.acme.test"]),
            tenant_with_key(env["DATABASE_URL"], name="Globex"))


@pytest.mark.parametrize("key", ["", "%00" * 20, "x" * 1000, "ü" * 20, "..%2F..%2Fetc", "A" * 31 + "%20",
                                 "' OR 1=1 --" + "a" * 20])
def test_guessed_and_malformed_keys_are_401_not_500(client, two, key):
    resp = client.post(f"/intake/v1/{key}/submissions", json={"email": "a@b.test"})
    assert resp.status_code in (401, 404), resp.status_code  # an empty segment matches no route at all


def test_another_tenants_secret_signs_nothing_here(client, env, two):
    acme, globex = two
    body = json.dumps({"email": "a@b.test"}).encode()
    resp = client.post(acme["url"], data=body, content_type="application/json", headers=signed(globex["secret"], body))
    assert resp.status_code == 401
    mine = client.post(acme["url"], json={"email": "a@b.test"}).get_json()["submission_id"]
    # Globex's key and secret, asking for Acme's submission: as if it did not exist
    read = client.get(f"{globex['url']}/{mine}", headers=signed(globex["secret"], b""))
    assert read.status_code == 404 and mine not in read.get_data(as_text=True)
    # Acme's key with Globex's secret: refused before anything is looked up
    assert client.get(f"{acme['url']}/{mine}", headers=signed(globex["secret"], b"")).status_code == 401


def test_a_console_session_grants_nothing_on_the_intake_endpoint(app, env, two):
    acme, _ = two
    with session_scope(env["DATABASE_URL"]) as s:
        ada = add_members(s, acme["tenant"], {"ada": "admin"})["ada"]
    admin = sign_in(app, ada)
    mine = admin.post(acme["url"], json={"email": "a@b.test"}).get_json()["submission_id"]
    assert admin.get(f"{acme['url']}/{mine}").status_code == 401  # only the signature reads a status


def test_cors_is_never_a_wildcard_nor_with_credentials(client, two):
    acme, _ = two
    for origin in ("null", "*", "https://www.acme.test.evil.test", "https://WWW.ACME.TEST", "http://www.acme.test"):
        pre = client.options(acme["url"], headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        post = client.post(acme["url"], json={"email": "a@b.test"}, headers={"Origin": origin})
        for resp in (pre, post):
            assert "Access-Control-Allow-Origin" not in resp.headers, origin
            assert "Access-Control-Allow-Credentials" not in resp.headers
    ok = client.post(acme["url"], json={"email": "a@b.test"}, headers={"Origin": "https://www.acme.test"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://www.acme.test" and "Origin" in ok.headers["Vary"]


def test_hostile_bodies_get_4xx_and_nul_characters_never_reach_storage(client, env, two, monkeypatch):
    monkeypatch.setenv("LEADRELAY_INTAKE_IP_PER_MINUTE", "100000")
    acme, _ = two
    assert client.post(acme["url"], data=b"a=&" * 10_000,
                       content_type="application/x-www-form-urlencoded").status_code == 400
    nul = client.post(acme["url"], json={"email": "a@b.test", "company": "Ac\x00me", "x\x00y": "v\x00"})
    assert nul.status_code == 202
    with session_scope(env["DATABASE_URL"]) as s:
        row = s.scalar(select(IntakeSubmission))
        assert row.fields["company"] == "Acme" and row.extra == {"xy": "v"}
    rng = random.Random(19)
    for kind in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"):
        for _ in range(25):
            body = os.urandom(rng.randint(0, 300)) if rng.random() < 0.5 else bytes(
                rng.choice(b'{}[]":,=&%a@.0 \\') for _ in range(rng.randint(0, 300)))
            resp = client.post(acme["url"], data=body, content_type=kind)
            assert resp.status_code in (202, 400, 413), (kind, body, resp.status_code)


def test_the_key_never_reaches_the_log_or_an_error_body(client, env, two, caplog):
    acme, _ = two
    caplog.set_level(logging.DEBUG)
    client.post(acme["url"], json={"email": "not an email"})
    client.post(acme["url"], json={"email": "a@b.test"})
    client.post(acme["url"], data={"email": "b@b.test", "lr_hp": "x"})
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert acme["key"] not in text and acme["secret"] not in text
    wrong = client.post(acme["url"] + "x", json={"email": "a@b.test"})
    assert acme["key"] not in wrong.get_data(as_text=True)


def test_spam_and_refusals_queue_nothing(client, env, two):
    acme, _ = two
    client.post(acme["url"], data={"email": "a@b.test", "lr_hp": "x"})
    client.post(acme["url"], json={"email": "bad"})
    client.post(acme["url"], json=["a@b.test"])
    assert queued_submissions(env["REDIS_URL"]) == []


def test_the_form_stamp_is_rate_limited_per_address(client, env, two, monkeypatch):
    monkeypatch.setenv("LEADRELAY_INTAKE_IP_PER_MINUTE", "1")
    acme, _ = two
    if time.time() % 60 > 55:  # the counters are per clock minute
        time.sleep(6)
    url = acme["url"].replace("/submissions", "/form-stamp")
    codes = [client.get(url).status_code for _ in range(12)]
    assert codes == [200] * 10 + [429, 429]
    assert client.get(url, environ_base={"REMOTE_ADDR": "10.7.7.7"}).status_code == 200
