"""The per-tenant budget in Redis: shared by every worker, under the platform's limit, per tenant."""
from __future__ import annotations

import time

import pytest
from redis import Redis

from integration.crm.echo import RedisWriteLog
from integration.errors import CRMBudgetExhausted, CRMRateLimited
from integration.ratelimit import RedisRateBudget
from integration.records import Event


def budget(redis_url, tenant_id=1, max_wait=0.0):
    return RedisRateBudget(Redis.from_url(redis_url), tenant_id, {"default": (10, 10.0), "search": (5, 1.0)},
                           max_wait=max_wait)


def test_two_workers_share_one_budget_and_stay_under_the_limit(redis_url):
    a, b = budget(redis_url), budget(redis_url)
    taken = 0
    with pytest.raises(CRMRateLimited) as exc:
        while True:
            (a if taken % 2 else b).acquire()
            taken += 1
    assert taken == 9  # 90 % of the platform's 10 per 10 s: headroom for others sharing the limit
    assert 0 < exc.value.retry_after <= 10


def test_a_busy_tenant_does_not_use_another_tenants_budget(redis_url):
    noisy = budget(redis_url, tenant_id=1)
    with pytest.raises(CRMRateLimited):
        for _ in range(20):
            noisy.acquire()
    budget(redis_url, tenant_id=2).acquire()  # tenant 2 is unaffected


def test_short_waits_are_absorbed(redis_url):
    b = budget(redis_url, max_wait=2.0)
    started = time.monotonic()
    taken = 0
    for _ in range(5):
        b.acquire("search")  # raising CRMRateLimited here would fail the test: a short wait is not a failure
        taken += 1
    assert taken == 5
    # 4.5 per second and a full bucket of 4.5 at the first call: the fifth needs half a token more, which takes
    # 0.5 / 4.5 s ≈ 0.11 s from the first call, so it can only have been taken after waiting for it
    assert time.monotonic() - started >= 0.1


def test_the_platform_saying_less_remains_wins(redis_url):
    b = budget(redis_url)
    b.observe("default", remaining=1)
    b.acquire()
    with pytest.raises(CRMRateLimited):
        b.acquire()


def test_an_emptied_window_holds_calls_off_until_its_reset(redis_url):
    # a rolling window (Pipedrive's 2 s) frees up when its oldest calls leave it, not a call at a time
    b = budget(redis_url)
    b.observe("search", remaining=0, limit=5, reset_after=1.0)
    with pytest.raises(CRMRateLimited) as exc:
        b.acquire("search")
    assert 0.9 <= exc.value.retry_after <= 1.0
    b.observe("default", remaining=0, limit=10)  # no reset time: the bucket's own refill (one call per second)
    with pytest.raises(CRMRateLimited) as exc:
        b.acquire()
    assert exc.value.retry_after < 1.2


def _event(changed=(), kind="updated"):
    import datetime as dt

    return Event(platform="hubspot", account_id="1", object_type="contact", object_id="7", kind=kind,
                 occurred_at=dt.datetime.now(dt.UTC), event_id="e", changed_fields=tuple(changed))


def test_an_allowance_used_up_until_its_reset_holds_every_call_then_is_whole_again(redis_url):
    """A daily budget the CRM reports used up: nothing goes out until its reset, however small the call; then the
    whole allowance is there at once (a token bucket would creep back a little at a time, too early and too slowly)."""
    import time

    b, other_worker = budget(redis_url), budget(redis_url)
    b.acquire(cost=5)
    until = time.time() + 1.0
    b.exhausted("default", until)
    with pytest.raises(CRMBudgetExhausted) as held:
        other_worker.acquire(cost=1)
    assert held.value.ours and held.value.bucket == "default" and 0 < held.value.retry_after <= 1.0
    assert abs(held.value.until.timestamp() - until) < 0.01
    time.sleep(1.1)
    other_worker.acquire(cost=9)  # all of 90 % of 10, at once


def test_an_echo_needs_both_the_platform_signal_and_our_own_write(redis_url):
    log = RedisWriteLog(Redis.from_url(redis_url), tenant_id=1)
    assert not log.is_echo(_event(["owner_id"]), app_signal=True)  # we wrote nothing
    log.remember("contact", "7", ["owner_id"])
    assert log.is_echo(_event(["owner_id"]), app_signal=True)
    assert not log.is_echo(_event(["owner_id"]), app_signal=False)  # someone else changed it
    assert not log.is_echo(_event(["owner_id", "email"]), app_signal=True)  # email was not ours
    assert not log.is_echo(_event(kind="deleted"), app_signal=True)


def test_a_lower_limit_reported_by_the_platform_is_learned(redis_url):
    b = budget(redis_url)  # configured for 10 per 10 s
    b.observe("default", remaining=None, limit=3)  # the platform says this account gets 3
    b.acquire()
    b.acquire()
    with pytest.raises(CRMRateLimited):
        b.acquire()  # 90 % of 3, rounded down by the bucket: two calls, then wait


def test_a_429_holds_calls_off_and_lowers_the_believed_limit(redis_url):
    b = budget(redis_url)  # 10 per 10 s configured
    assert b.penalize("default", retry_after=2) == 7  # a quarter below the 10 we believed
    with pytest.raises(CRMRateLimited) as exc:
        b.acquire()
    assert exc.value.retry_after > 1.5  # nothing until the platform's Retry-After has passed


def test_a_learned_limit_is_forgotten_after_its_time(redis_url):
    b = budget(redis_url)
    b.penalize("default", retry_after=0)
    redis = Redis.from_url(redis_url)
    assert 0 < redis.ttl("leadrelay:rate:1:default:learned-limit") <= 3600
    redis.delete("leadrelay:rate:1:default:learned-limit")  # the hour has passed
    redis.delete("leadrelay:rate:1:default")
    for _ in range(9):
        b.acquire()  # the configured 90 % of 10 again
