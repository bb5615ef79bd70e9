"""Finding 7: anonymous diagnostics. `POST /api/v1/diagnostics/probes` needed no login and each call inserted a
row (never deleted) and queued a job. Now: operators only (a bearer token, or a local caller when none is set),
rate-limited per caller, and probe rows expire."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from integration.db import session_scope
from integration.models import Probe

PROBES = "/api/v1/diagnostics/probes"
OUTSIDER = {"REMOTE_ADDR": "203.0.113.7"}
TOKEN = "op-token-0123456789abcdef"


def probes(env) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(select(func.count()).select_from(Probe))


def jobs(env) -> int:
    return Queue("maintenance", connection=Redis.from_url(env["REDIS_URL"])).count


@pytest.fixture()
def with_operator_token(env, monkeypatch):
    from app import create_app

    monkeypatch.setenv("LEADRELAY_OPERATOR_TOKEN", TOKEN)
    return create_app({"TESTING": True}).test_client()


@pytest.mark.parametrize("how", [
    {"environ_base": OUTSIDER},  # from the internet
    {"headers": {"X-Forwarded-For": "203.0.113.7"}},  # through a proxy on this host nobody declared trusted
    {"headers": {"Origin": "https://evil.example"}},  # a web page in a local browser
    {"headers": {"Host": "rebound.evil.example"}},  # DNS rebinding onto 127.0.0.1
])
def test_without_an_operator_token_only_a_local_caller_gets_in(client, env, how):
    assert client.post(PROBES, **how).status_code == 404
    assert client.get(f"{PROBES}/anything", **how).status_code == 404
    assert (probes(env), jobs(env)) == (0, 0)


def test_a_local_caller_needs_no_setup(client, env):
    """What `make demo` and /healthz's tests do."""
    created = client.post(PROBES)
    assert created.status_code == 202
    assert client.get(created.json["status_url"]).json["done"] is False
    assert (probes(env), jobs(env)) == (1, 1)


def test_with_an_operator_token_every_caller_must_send_it(with_operator_token, env):
    client = with_operator_token
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Basic {TOKEN}"}):
        resp = client.post(PROBES, headers=headers)  # local or not: a same-host proxy makes everyone local
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (probes(env), jobs(env)) == (0, 0)
    resp = client.post(PROBES, headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=OUTSIDER)
    assert resp.status_code == 202 and (probes(env), jobs(env)) == (1, 1)


def test_probes_are_rate_limited_per_caller(with_operator_token, env):
    client, auth = with_operator_token, {"Authorization": f"Bearer {TOKEN}"}
    statuses = [client.post(PROBES, headers=auth, environ_base=OUTSIDER).status_code for _ in range(11)]
    assert statuses == [202] * 10 + [429]
    limited = client.post(PROBES, headers=auth, environ_base=OUTSIDER)
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert client.post(PROBES, headers=auth, environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 202
    assert probes(env) == 11


def test_probe_rows_expire(client, env):
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(Probe(token="old", requested_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)))
        s.add(Probe(token="recent", requested_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    client.post(PROBES)
    with session_scope(env["DATABASE_URL"]) as s:
        tokens = set(s.scalars(select(Probe.token)))
    assert "old" not in tokens and "recent" in tokens and len(tokens) == 2


def test_behind_a_trusted_proxy_the_client_address_decides(env, monkeypatch):
    from app import create_app

    monkeypatch.setenv("LEADRELAY_TRUSTED_PROXIES", "1")
    client = create_app({"TESTING": True}).test_client()  # the proxy is on this host: every peer is 127.0.0.1
    assert client.post(PROBES, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert client.post(PROBES).status_code == 404  # a proxy that names no client: nothing to believe
    assert client.post(PROBES, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 202
