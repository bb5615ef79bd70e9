"""How many "Send a test" messages a tenant may send from the Senders card: the test goes to whatever address or
number the admin types, so without a limit the card would be a way to send mail or texts to anyone through the
tenant's own SMTP server or Twilio account. Counted per tenant over both channels, in Redis (fixed windows: the
minute, the UTC day), so every web process sees the same count."""
from __future__ import annotations

import datetime as dt
import time

from redis import Redis

# enough to try a fix or two of the settings, never enough to be worth abusing
PER_MINUTE = 5
PER_DAY = 30


def take_test_send(redis: Redis, tenant_id: int, now: float | None = None) -> str | None:
    """Count one test send for the tenant; when the minute's or the day's limit is reached, nothing is counted
    and the answer is the sentence the admin reads (None: go ahead)."""
    now = time.time() if now is None else now
    day = dt.datetime.fromtimestamp(now, dt.UTC)
    minute_key = f"leadrelay:sender-test:{tenant_id}:m:{int(now // 60)}"
    day_key = f"leadrelay:sender-test:{tenant_id}:d:{day:%Y-%m-%d}"
    with redis.pipeline() as pipe:
        in_minute, _, in_day, _ = (pipe.incr(minute_key).expire(minute_key, 120)
                                   .incr(day_key).expire(day_key, 2 * 24 * 3600).execute())
    if in_minute <= PER_MINUTE and in_day <= PER_DAY:
        return None
    with redis.pipeline() as pipe:  # a refused try is not a send: it must not eat the allowance
        pipe.decr(minute_key).decr(day_key).execute()
    if in_day > PER_DAY:
        return (f"Nothing was sent: this account has sent its {PER_DAY} test messages for today (UTC). "
                "Tests are limited so that this page can't be used to send mail or texts to anyone; "
                "try again tomorrow.")
    wait = max(1, int(60 - now % 60) + 1)
    return (f"Nothing was sent: this account has sent {PER_MINUTE} test messages in the last minute. "
            f"Try again in {wait} seconds.")
