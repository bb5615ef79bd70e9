"""Issue 13 (6): one health model; the health page, the agency portfolio's pill and /healthz agree in every state.

Real Redis (the `env` fixture's flushed database) and the app's test client; each state is made from the facts an
installed account really leaves behind (events, sweep cursors, credentials, budget keys).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time

import pytest
from redis import Redis

from integration.db import session_scope
from integration.models import Agency, ConsoleUser, Credential, EventRecord, Membership, SweepCursor, Tenant
from tests.console_helpers import sign_in

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def _now():
    """Each test's clock starts with the test: a module-level time ages while the suite runs before it."""
    global NOW  # noqa: PLW0603 - the tests below read it as "now"
    NOW = dt.datetime.now(dt.UTC)


@pytest.fixture()
def world(app, env):
    """A HubSpot account installed two days ago, linked to an agency; healthy: a webhook 5 min ago, a sweep a
    minute ago, a token that renews itself. alice is its admin, agnes the agency's admin."""
    ids = {}
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="Agency A")
        s.add(agency)
        s.flush()
        tenant = Tenant(platform="hubspot", external_id="501", name="Portal H", agency_id=agency.id,
                        agency_grant="admin", installed_at=NOW - dt.timedelta(days=2))
        s.add(tenant)
        s.flush()
        ids["T"] = tenant.id
        for name, agency_role in (("alice", None), ("agnes", "admin")):
            user = ConsoleUser(platform="hubspot", external_user_id=name, email=f"{name}@example.com", name=name,
                               agency_id=agency.id if agency_role else None, agency_role=agency_role)
            s.add(user)
            s.flush()
            ids[name] = user.id
        s.add_all([Membership(tenant_id=tenant.id, user_id=ids["alice"], role="admin"),
                   Credential(tenant_id=tenant.id, access_token_enc=b"a", refresh_token_enc=b"r",
                              expires_at=NOW + dt.timedelta(minutes=10)),
                   event(tenant.id, "w1", source="CRM_UI", received=NOW - dt.timedelta(minutes=5)),
                   SweepCursor(tenant_id=tenant.id, object_type="contact", cursor="1",
                               swept_at=NOW - dt.timedelta(minutes=1), found=0)])
    return ids


def event(tenant_id: int, key: str, source: str, received: dt.datetime, status: str = "processed",
          occurred: dt.datetime | None = None) -> EventRecord:
    return EventRecord(tenant_id=tenant_id, dedup_key=key, platform="hubspot", object_type="contact", object_id=key,
                       kind="updated", source=source, occurred_at=occurred or received, received_at=received,
                       status=status)


def add(env, *rows) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all(rows)


def observed(app, world) -> dict[str, object]:
    """The state each of the three places shows, and the reasons the page and /healthz name."""
    t = world["T"]
    page = sign_in(app, world["alice"]).get(f"/console/tenants/{t}/health").get_data(as_text=True)
    portfolio = sign_in(app, world["agnes"]).get("/console/agency").get_data(as_text=True)
    healthz = app.test_client().get("/healthz").json["tenants"]
    attention = {row["id"]: row for row in healthz["attention"]}
    pill = re.search(rf'data-health="{t}">.*?data-health-state="(\w+)"', portfolio, re.S)
    return {
        "page": re.search(r'data-health="state">.*?data-health-state="(\w+)"', page, re.S).group(1),
        "portfolio": pill.group(1),
        "healthz": attention[t]["state"] if t in attention else next(iter(healthz["counts"])),
        "page_reasons": re.findall(r'data-reason="([^"]+)"', page),
        "healthz_reasons": attention.get(t, {}).get("reasons", []),
        "text": re.sub(r"\s+", " ", page),
    }


def assert_agree(seen: dict, state: str, *reasons: str) -> None:
    assert (seen["page"], seen["portfolio"], seen["healthz"]) == (state, state, state)
    assert seen["page_reasons"] == seen["healthz_reasons"] == list(reasons)


def test_ok(app, world):
    seen = observed(app, world)
    assert_agree(seen, "ok")
    assert "Working: webhooks arrive" in seen["text"] and "Redis did not answer" not in seen["text"]


def test_degraded_when_changes_failed_in_the_last_day(app, env, world):
    add(env, event(world["T"], "f1", source="CRM_UI", received=NOW - dt.timedelta(hours=1), status="failed"),
        event(world["T"], "f0", source="CRM_UI", received=NOW - dt.timedelta(days=3), status="failed"))
    seen = observed(app, world)
    assert_agree(seen, "degraded", "events-failed")
    assert "1 change from the CRM failed in the last 24 hours" in seen["text"]  # the one three days ago is old news


def test_reauth_required(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = s.get(Tenant, world["T"])
        tenant.status, tenant.settings = "reauth_required", {"reauth_reason": "refresh token revoked"}
    add(env, event(world["T"], "p1", source="CRM_UI", received=NOW - dt.timedelta(hours=2), status="waiting"))
    seen = observed(app, world)
    assert_agree(seen, "reauth_required", "reauth-required")
    assert "(refresh token revoked)" in seen["text"] and "1 event wait" in seen["text"]
    assert "/install/hubspot" in seen["text"] and "Re-connect" in seen["text"]


def test_webhook_silent_when_the_sweep_finds_changes_no_webhook_announced(app, env, world):
    t = world["T"]
    with session_scope(env["DATABASE_URL"]) as s:
        s.scalar(EventRecord.for_tenant(t)).received_at = NOW - dt.timedelta(hours=3)
    add(env, event(t, "s1", source="sweep", received=NOW - dt.timedelta(hours=1),
                   occurred=NOW - dt.timedelta(hours=2)),
        # changed before the install: the first sweep takes it in, and it says nothing about webhooks
        event(t, "s0", source="sweep", received=NOW - dt.timedelta(days=2), occurred=NOW - dt.timedelta(days=5)))
    seen = observed(app, world)
    assert_agree(seen, "webhook_silent", "webhooks-silent")
    assert "yet 1 record changed in the CRM after that" in seen["text"]
    assert "Connected apps" in seen["text"]  # where HubSpot keeps what sends the webhooks


def test_a_quiet_account_is_not_webhook_silent(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        s.scalar(EventRecord.for_tenant(world["T"])).received_at = NOW - dt.timedelta(days=3)
    assert_agree(observed(app, world), "ok")  # no webhook for days, and nothing changed in the CRM either


def test_sweep_behind(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        s.scalar(SweepCursor.for_tenant(world["T"])).swept_at = NOW - dt.timedelta(minutes=40)
    seen = observed(app, world)
    assert_agree(seen, "sweep_behind", "sweep-behind")
    assert "40 min ago (it should run every 5 min)" in seen["text"]


def test_budget_low_reads_the_learned_limit_string_next_to_the_bucket_hash(app, env, world):
    redis, t = Redis.from_url(env["REDIS_URL"]), world["T"]
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, t).platform = "pipedrive"  # a daily allowance (HubSpot public apps only have burst windows)
    redis.hset(f"leadrelay:rate:{t}:daily", mapping={"tokens": 900, "ts": time.time()})
    redis.set(f"leadrelay:rate:{t}:daily:learned-limit", 20000, ex=3600)
    redis.hset(f"leadrelay:rate:{t}:search", mapping={"tokens": 0, "ts": time.time()})  # a 2-second window: no alarm
    seen = observed(app, world)
    assert_agree(seen, "budget_low", "budget-low:daily")
    assert "Redis did not answer" not in seen["text"]
    assert "900 of 18,000 left per day" in seen["text"]
    assert "LeadRelay assumes 20,000 per day instead of 60,000" in seen["text"]
    assert re.search(r'data-bucket="daily"><td>Daily allowance</td><td class="num">9\d\d</td>', seen["text"])
    assert re.search(r'data-bucket="default"><td>API calls</td><td class="num">144</td>', seen["text"])  # unused: full


def test_a_learned_limit_key_is_not_a_redis_failure(app, env, world):
    """The defect: the budget scan read the string `...:learned-limit` as a hash, and every tenant showed
    "Redis did not answer (ResponseError)", then "full budget available"."""
    redis, t = Redis.from_url(env["REDIS_URL"]), world["T"]
    redis.hset(f"leadrelay:rate:{t}:default", mapping={"tokens": 80, "ts": time.time()})
    redis.set(f"leadrelay:rate:{t}:default:learned-limit", 100, ex=3600)
    page = sign_in(app, world["alice"]).get(f"/console/tenants/{t}/health").get_data(as_text=True)
    assert "Redis did not answer" not in page and "ResponseError" not in page
    assert "full budget" not in page
    assert 'data-bucket="default"' in page and 'data-bucket="search"' in page


def test_redis_down_is_degraded_and_the_budget_unknown_not_full(app, env, world, tmp_path):
    settings = app.config["LEADRELAY_SETTINGS"]
    app.config["LEADRELAY_SETTINGS"] = dataclasses.replace(settings, redis_url=f"unix://{tmp_path}/nothing.sock")
    seen = observed(app, world)
    assert_agree(seen, "degraded", "redis-unreachable")
    assert 'data-budget="unknown"' in seen["text"] and "full budget" not in seen["text"]
    assert app.test_client().get("/healthz").status_code == 503  # the app itself is down without Redis


def test_a_token_that_renews_itself_is_not_expiring(app, world):
    text = observed(app, world)["text"]  # the fixture's token expires in 10 minutes and has a refresh token
    assert "renews itself" in text and "expiring" not in text


def test_a_token_that_cannot_renew_itself_is_expiring(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        s.scalar(Credential.for_tenant(world["T"])).refresh_token_enc = None
    seen = observed(app, world)
    assert_agree(seen, "degraded", "token-expiring")
    assert "expiring" in seen["text"] and "cannot renew itself" in seen["text"]


def test_the_sweep_finding_says_what_it_means(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        s.scalar(SweepCursor.for_tenant(world["T"])).found = 49
    text = observed(app, world)["text"]
    assert "the last run took in <strong>49</strong> changes that no webhook had announced" in text
    assert "edits made before the install" in text and "nothing is lost" in text
    assert "missed" not in text


def test_healthz_shows_accounts_to_operators_only(app, world, monkeypatch):
    assert "tenants" in app.test_client().get("/healthz").json  # a local caller
    remote = app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 200 and "tenants" not in remote.json
