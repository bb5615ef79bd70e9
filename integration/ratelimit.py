"""Per-tenant API budgets in Redis, shared by every worker: stay under the CRM's limit, don't bounce off it."""
from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from redis import Redis

from integration.config import DEFAULT_BUDGET_THRESHOLDS, WORK_CLASSES
from integration.errors import CRMBudgetExhausted, CRMRateLimited
from integration.logs import work_class_var

log = logging.getLogger("leadrelay.ratelimit")

# A token bucket per (tenant, bucket): capacity = the platform's limit times SAFETY, refilled continuously.
# Returns {wait, why}: wait 0 when taken, else the seconds until `cost` tokens will be there; negative while the
# platform has said the allowance is used up until its reset (KEYS[3], see `exhausted`): minus the seconds until
# then. ARGV[6] is the share of the capacity the caller's work class must leave in the bucket (its threshold, or
# the reserve): a lower class waits for it while a new lead takes the rest. why is "held" when that share kept
# it waiting (without it the bucket would have refilled sooner), "empty" when the bucket itself ran dry.
# With ARGV[8] = 1 a wait is counted in KEYS[4] (the tenant's waits this minute) under ARGV[7] ("bucket:class").
_TAKE = """
local key, capacity, per = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, now, safety = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local share = tonumber(ARGV[6]) or 0
local held = tonumber(redis.call('GET', KEYS[3]))
if held ~= nil and held > now then return {tostring(now - held), 'exhausted'} end
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
local learned = tonumber(redis.call('GET', KEYS[2]))
if learned ~= nil then capacity = math.min(capacity, math.max(1, learned * safety)) end
local rate = capacity / per
if tokens == nil then tokens, ts = capacity, now end
tokens = math.min(capacity, tokens + (now - ts) * rate)
-- never more than a full bucket can leave: a call costing more than the rest would otherwise wait for ever
local floor = math.min(share * capacity, math.max(0, capacity - cost))
local wait, why = 0, ''
if tokens - cost >= floor then
  tokens = tokens - cost
else
  wait = (cost + floor - tokens) / rate
  if floor > 0 then why = 'held' else why = 'empty' end
  if tonumber(ARGV[8]) == 1 then
    redis.call('HINCRBY', KEYS[4], ARGV[7], 1)
    redis.call('EXPIRE', KEYS[4], tonumber(ARGV[9]))
  end
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', key, math.ceil(per) + 86400)
return {tostring(wait), why}
"""

# The platform says fewer calls remain than we think (other apps, other users share it), or that the limit
# is lower than the plan we assumed: believe it, and keep the learned limit for this tenant.
# With nothing remaining and a reset time, nothing until then: a rolling window (Pipedrive's 2 s) does not refill
# a call at a time as a token bucket does, it frees up when its oldest calls leave the window.
_OBSERVE = """
local key, remaining, now, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local reset, capacity, per, safety = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if limit ~= nil and limit > 0 then redis.call('SET', KEYS[2], limit, 'EX', tonumber(ARGV[4])) end
if remaining ~= nil then
  local tokens = tonumber(redis.call('HGET', key, 'tokens'))
  local believed = remaining
  if remaining <= 0 and reset ~= nil and reset > 0 then
    local learned = tonumber(redis.call('GET', KEYS[2]))
    if learned ~= nil then capacity = math.min(capacity, math.max(1, learned * safety)) end
    believed = 1 - reset * capacity / per
  end
  if tokens == nil or believed < tokens then redis.call('HSET', key, 'tokens', believed, 'ts', now) end
end
return 1
"""

# The platform answered 429 although we stayed within what we believed: nothing until Retry-After, and
# believe a limit a quarter lower from now on (other apps share it, or the plan is smaller than assumed).
_PENALIZE = """
local key, capacity, per, retry_after, now, safety = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local learned = tonumber(redis.call('GET', KEYS[2]))
if learned ~= nil then capacity = math.min(capacity, math.max(1, learned * safety)) end
local lower = math.max(1, math.floor(capacity / safety * 0.75))
redis.call('SET', KEYS[2], lower, 'EX', tonumber(ARGV[6]))
redis.call('HSET', key, 'tokens', -(retry_after * math.max(1, lower * safety) / per), 'ts', now)
redis.call('EXPIRE', key, math.ceil(per) + 86400)
return lower
"""

SAFETY = 0.9
# Work classes, highest first (integration.jobs.WORK_CLASS names every job's). The budget serves them in this
# order: below a class's threshold (the share of the bucket left) its calls wait, the higher classes' go on.
# Lower classes stop earlier, so the last of the bucket is the new leads' (LEADRELAY_BUDGET_THRESHOLDS).
# new_lead and sla are never held back by a threshold: an SLA check is a lead waiting for an owner's reply.
NEW_LEAD, SLA, FOLLOWUP, SWEEP, BULK = WORK_CLASSES
DEFAULT_THRESHOLDS = DEFAULT_BUDGET_THRESHOLDS
# Waits are counted per minute, kept this long, and shown for the last WAITS_WINDOW seconds.
WAITS_WINDOW = 600
# A limit learned from a 429 or a header is believed this long, then the configured one is tried again
# (a busy hour of another app sharing the limit must not throttle the tenant for good).
LEARNED_TTL_SECONDS = 3600


def bucket_key(tenant_id: int, bucket: str) -> str:
    """The bucket's hash (tokens, ts)."""
    return f"leadrelay:rate:{tenant_id}:{bucket}"


def learned_key(tenant_id: int, bucket: str) -> str:
    """The limit learned from a 429 or a header: a plain string, next to the bucket's hash (not a bucket)."""
    return f"{bucket_key(tenant_id, bucket)}:learned-limit"


def held_key(tenant_id: int, bucket: str) -> str:
    """When an allowance the platform reported used up is whole again (epoch seconds): a plain string."""
    return f"{bucket_key(tenant_id, bucket)}:held-until"


def waits_key(tenant_id: int, minute: int) -> str:
    """The tenant's waits in one minute (epoch minutes): a hash "bucket:class" -> how many calls had to wait."""
    return f"leadrelay:rate:{tenant_id}:waits:{minute}"


def share_floor(work_class: str, bucket: str, thresholds: Mapping[str, float],
                reserves: Mapping[str, float]) -> float:
    """The share of `bucket` a call of `work_class` must leave: its threshold, and on a bucket the customer's other
    integrations share (Salesforce's daily allowance) the reserve left to them, which only new leads may spend."""
    floor = 0.0 if work_class in (NEW_LEAD, SLA) else float(thresholds.get(work_class, 0.0))
    if work_class != NEW_LEAD:
        floor = max(floor, float(reserves.get(bucket, 0.0)))
    return min(1.0, max(0.0, floor))


class RedisRateBudget:
    """RateBudget for one tenant. `limits`: bucket -> (requests, per seconds), from the adapter's RATE_LIMITS.
    `thresholds`: work class -> the share of a bucket it leaves to the classes above it (DEFAULT_THRESHOLDS);
    `reserves`: bucket -> the share only new leads may spend (other integrations' part of a shared allowance).
    The work class is that of the running job (integration.logs.work_class_var)."""

    def __init__(self, redis: Redis, tenant_id: int, limits: Mapping[str, tuple[int, float]],
                 max_wait: float = 2.0, thresholds: Mapping[str, float] | None = None,
                 reserves: Mapping[str, float] | None = None) -> None:
        self.redis, self.tenant_id, self.limits, self.max_wait = redis, tenant_id, dict(limits), max_wait
        self.thresholds = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
        self.reserves = dict(reserves or {})
        self._take = redis.register_script(_TAKE)
        self._observe = redis.register_script(_OBSERVE)
        self._penalize = redis.register_script(_PENALIZE)

    def _keys(self, bucket: str) -> list[str]:
        return [bucket_key(self.tenant_id, bucket), learned_key(self.tenant_id, bucket),
                held_key(self.tenant_id, bucket)]

    def _shape(self, bucket: str) -> tuple[float, float]:
        requests, per = self.limits.get(bucket) or self.limits["default"]
        return max(1.0, requests * SAFETY), float(per)

    def acquire(self, bucket: str = "default", cost: int = 1) -> None:
        """Take `cost`; wait up to max_wait for it, else raise CRMRateLimited so the job is re-planned. A job of a
        lower work class also waits while the bucket is under its class's share (`held`: set on the exception)."""
        capacity, per = self._shape(bucket)
        work_class = work_class_var.get()
        share = share_floor(work_class, bucket, self.thresholds, self.reserves)
        deadline = time.monotonic() + self.max_wait
        first = 1
        while True:
            now = time.time()
            keys = [*self._keys(bucket), waits_key(self.tenant_id, int(now // 60))]
            answer, why = self._take(keys=keys, args=[capacity, per, cost, now, SAFETY, share,
                                                      f"{bucket}:{work_class}", first, WAITS_WINDOW + 60])
            wait, why, first = float(answer), why.decode() if isinstance(why, bytes) else why, 0
            if wait < 0:  # used up until its reset: no call goes out before then, however long that is
                until = dt.datetime.fromtimestamp(time.time() - wait, dt.UTC)
                exc = CRMBudgetExhausted(f"the CRM's {bucket} API allowance for tenant {self.tenant_id} is used up",
                                         until, bucket)
                exc.ours = True  # our own budget said wait: the CRM was not asked
                raise exc
            if wait == 0:
                return
            if time.monotonic() + wait > deadline:
                log.info("ratelimit.budget-exhausted", extra={"tenant_id": self.tenant_id, "bucket": bucket,
                                                              "work_class": work_class, "why": why,
                                                              "retry_after": round(wait, 2)})
                if why == "held":
                    exc = CRMRateLimited(f"tenant {self.tenant_id} budget {bucket!r} is kept for higher-priority "
                                         f"work than {work_class}", retry_after=wait)
                else:
                    exc = CRMRateLimited(f"tenant {self.tenant_id} budget {bucket!r} exhausted", retry_after=wait)
                exc.ours = True  # our own budget said wait: not a signal from the platform
                exc.held = work_class if why == "held" else None  # jobs.py re-plans a held job, no retry spent
                raise exc
            time.sleep(wait)

    def exhausted(self, bucket: str, until: float) -> None:
        """The platform refuses every call on `bucket` until `until`, then the allowance is whole: hold every call
        off until then (a token bucket refilling a little at a time would creep back in too early, and after the
        reset too slowly), then start from a full bucket."""
        seconds = max(1, math.ceil(until - time.time()))
        pipe = self.redis.pipeline()
        pipe.set(held_key(self.tenant_id, bucket), repr(float(until)), ex=seconds)
        pipe.delete(bucket_key(self.tenant_id, bucket))
        pipe.execute()
        log.warning("ratelimit.allowance-exhausted", extra={"tenant_id": self.tenant_id, "bucket": bucket,
                                                             "until": dt.datetime.fromtimestamp(until, dt.UTC)
                                                             .isoformat(timespec="seconds")})

    def penalize(self, bucket: str, retry_after: float) -> int:
        """The CRM answered 429 on `bucket`: hold off until Retry-After and lower the believed limit (returned)."""
        capacity, per = self._shape(bucket)
        lower = int(self._penalize(keys=self._keys(bucket), args=[capacity, per, max(0.0, retry_after), time.time(),
                                                                   SAFETY, LEARNED_TTL_SECONDS]))
        log.info("ratelimit.learned-from-429", extra={"tenant_id": self.tenant_id, "bucket": bucket, "limit": lower})
        return lower

    def observe(self, bucket: str, remaining: int | None, limit: int | None = None,
                reset_after: float | None = None) -> None:
        if remaining is None and not limit:
            return
        capacity, per = self._shape(bucket)
        self._observe(keys=self._keys(bucket), args=["" if remaining is None else max(0, int(remaining)), time.time(),
                                                     int(limit or 0), LEARNED_TTL_SECONDS,
                                                     "" if reset_after is None else float(reset_after), capacity, per,
                                                     SAFETY])


# Reading side (the console's health page): what each bucket holds now, computed as _TAKE would, without taking.

@dataclass(frozen=True)
class BudgetLeft:
    """One bucket of a tenant's budget as it stands now."""

    bucket: str
    left: float  # calls that may go out now; below 0 while a 429's Retry-After is being waited out
    capacity: float  # what LeadRelay allows itself per window: SAFETY x the platform's (or the learned) limit
    per: float  # the window, in seconds
    limit: int  # the platform's limit for the window, as the adapter declares it
    learned: int | None = None  # a lower limit the platform made us believe (a 429 or its headers)
    learned_for: float | None = None  # seconds that learned limit is still believed
    held_until: float | None = None  # the platform said it is used up until then (epoch seconds), whole after

    @property
    def percent(self) -> float:
        return round(max(0.0, min(100.0, 100 * self.left / self.capacity)), 1)

    def left_for(self, share: float) -> float:
        """Calls a work class that must leave `share` of the bucket (share_floor) may make now."""
        return round(max(0.0, self.left - share * self.capacity), 2)

    @property
    def full_in(self) -> float:
        """Seconds until the bucket is full again."""
        if self.held_until is not None:
            return max(0.0, self.held_until - time.time())
        return max(0.0, (self.capacity - self.left) * self.per / self.capacity)


def read_budgets(redis: Redis, tenant_id: int, limits: Mapping[str, tuple[int, float]],
                 now: float | None = None) -> list[BudgetLeft]:
    """Every bucket of `limits` for the tenant, refilled up to `now`; a bucket never used (or idle for a day) is
    full. The keys are known, so nothing is scanned, and each is read with the command for its type."""
    now = time.time() if now is None else now
    pipe = redis.pipeline(transaction=False)
    for bucket in limits:
        pipe.hmget(bucket_key(tenant_id, bucket), "tokens", "ts")
        pipe.get(learned_key(tenant_id, bucket))
        pipe.ttl(learned_key(tenant_id, bucket))
        pipe.get(held_key(tenant_id, bucket))
    answers = pipe.execute()
    found = []
    for i, (bucket, (requests, per)) in enumerate(limits.items()):
        (tokens, ts), learned, ttl, held = answers[4 * i:4 * i + 4]
        held_until = float(held) if held is not None and float(held) > now else None
        learned = int(float(learned)) if learned is not None else None
        capacity = max(1.0, requests * SAFETY)
        if learned is not None:
            capacity = min(capacity, max(1.0, learned * SAFETY))
        left = capacity if tokens is None else min(
            capacity, float(tokens) + max(0.0, now - float(ts or now)) * capacity / per)
        found.append(BudgetLeft(bucket=bucket, left=0.0 if held_until else round(left, 2), capacity=round(capacity, 2),
                                per=float(per), limit=int(requests), learned=learned,
                                learned_for=float(ttl) if learned is not None and ttl and ttl > 0 else None,
                                held_until=held_until))
    return found


def read_waits(redis: Redis, tenant_id: int, now: float | None = None) -> dict[tuple[str, str], int]:
    """(bucket, work class) -> calls that had to wait for the budget in the last WAITS_WINDOW seconds."""
    minute = int((time.time() if now is None else now) // 60)
    pipe = redis.pipeline(transaction=False)
    for m in range(minute - WAITS_WINDOW // 60 + 1, minute + 1):
        pipe.hgetall(waits_key(tenant_id, m))
    found: dict[tuple[str, str], int] = {}
    for counts in pipe.execute():
        for field, n in counts.items():
            bucket, _, work_class = (field.decode() if isinstance(field, bytes) else field).rpartition(":")
            found[(bucket, work_class)] = found.get((bucket, work_class), 0) + int(n)
    return found
