"""The Senders card's "Send a test" allowance (adapters.senders.limits) against real Redis, at chosen moments."""
from __future__ import annotations

import datetime as dt

from redis import Redis

from adapters.senders.limits import PER_DAY, PER_MINUTE, take_test_send

NOON = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC).timestamp()


def test_five_a_minute_then_a_clear_refusal_that_counts_nothing(redis_url):
    redis = Redis.from_url(redis_url)
    assert [take_test_send(redis, 1, NOON + i) for i in range(PER_MINUTE)] == [None] * PER_MINUTE
    refused = take_test_send(redis, 1, NOON + 10)
    assert refused is not None and "5 test messages in the last minute" in refused and "51 seconds" in refused
    assert take_test_send(redis, 2, NOON + 10) is None  # per tenant
    assert take_test_send(redis, 1, NOON + 60) is None  # the next minute
    assert redis.get("leadrelay:sender-test:1:d:2026-12-03") == str(PER_MINUTE + 1).encode()  # refusal uncounted


def test_thirty_a_day_then_tomorrow(redis_url):
    redis = Redis.from_url(redis_url)
    sent = [take_test_send(redis, 7, NOON + 60 * i) for i in range(PER_DAY)]  # one a minute: never the minute's
    assert sent == [None] * PER_DAY
    refused = take_test_send(redis, 7, NOON + 60 * PER_DAY)
    assert refused is not None and "30 test messages for today" in refused and "tomorrow" in refused
    assert take_test_send(redis, 7, NOON + 12 * 3600) is None  # 00:00 UTC the next day
