"""Pool state in Redis: one Lua script per pick, so any number of workers share pools without double-assigning."""
from __future__ import annotations

from collections.abc import Sequence

from redis import Redis

from integration.routing.state import Choice, Slot

# Mirrors integration.routing.state.pick; the script runs atomically, so the capacity check, the pick, the
# pointer/weight update and the open-lead increment can never interleave with another worker's.
# KEYS[1]: the pool's state hash (by strategy and pool name), KEYS[2]: the tenant's open-lead hash.
# ARGV: strategy, n, then n × (email, weight, capacity or "", available "1"/"0").
PICK_LUA = """
local strategy, n = ARGV[1], tonumber(ARGV[2])
local emails, weights, caps, ok, opens, full = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b = 2 + (i - 1) * 4
  emails[i] = ARGV[b + 1]
  weights[i] = tonumber(ARGV[b + 2])
  caps[i] = tonumber(ARGV[b + 3])
  opens[i] = tonumber(redis.call('HGET', KEYS[2], emails[i]) or '0')
  ok[i] = ARGV[b + 4] == '1'
  if ok[i] and caps[i] and opens[i] >= caps[i] then
    ok[i] = false
    table.insert(full, emails[i])
    table.insert(full, opens[i] .. '/' .. caps[i])
  end
end
local chosen = nil
if strategy == 'round_robin' then
  local last = redis.call('HGET', KEYS[1], 'last')
  local start = tonumber(redis.call('HGET', KEYS[1], 'pos') or '0')
  for i = 1, n do
    if emails[i] == last then start = i; break end
  end
  for k = 0, n - 1 do
    local i = ((start + k) % n) + 1
    if ok[i] then chosen = i; break end
  end
  if chosen then redis.call('HSET', KEYS[1], 'last', emails[chosen], 'pos', chosen - 1) end
elseif strategy == 'weighted' then
  local total, cur = 0, {}
  for i = 1, n do
    if ok[i] then
      cur[i] = tonumber(redis.call('HGET', KEYS[1], emails[i]) or '0') + weights[i]
      total = total + weights[i]
      if chosen == nil or cur[i] > cur[chosen] then chosen = i end
    end
  end
  if chosen then
    cur[chosen] = cur[chosen] - total
    local listed = {}
    for i = 1, n do listed[emails[i]] = true end
    for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
      if not listed[k] then redis.call('HDEL', KEYS[1], k) end
    end
    for i, v in pairs(cur) do redis.call('HSET', KEYS[1], emails[i], v) end
  end
else
  for i = 1, n do
    if ok[i] and (chosen == nil or opens[i] < opens[chosen]) then chosen = i end
  end
end
if not chosen then return {'', 0, unpack(full)} end
local held = redis.call('HINCRBY', KEYS[2], emails[chosen], 1)
return {emails[chosen], held, unpack(full)}
"""

RELEASE_LUA = """
local held = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if held < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0); held = 0 end
return held
"""


class RedisPoolState:
    """Pool state for one tenant in Redis (production: shared by every worker of every machine)."""

    def __init__(self, redis: Redis, tenant: str | int, prefix: str = "leadrelay:routing") -> None:
        self.redis = redis
        self.base = f"{prefix}:{{{tenant}}}"  # one hash slot per tenant, so the script's keys co-locate
        self._pick = redis.register_script(PICK_LUA)
        self._release = redis.register_script(RELEASE_LUA)

    def _decode(self, value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    def choose(self, pool: str, strategy: str, slots: Sequence[Slot]) -> Choice:
        args: list[str | int] = [strategy, len(slots)]
        for slot in slots:
            args += [slot.email, slot.weight, "" if slot.capacity is None else slot.capacity,
                     "0" if slot.unavailable else "1"]
        reply = self._pick(keys=[f"{self.base}:{strategy}:{pool}", f"{self.base}:open"], args=args)
        email, held, full = self._decode(reply[0]), int(reply[1]), [self._decode(v) for v in reply[2:]]
        why = {s.email: s.unavailable for s in slots if s.unavailable}
        why.update({full[i]: f"at capacity {full[i + 1]}" for i in range(0, len(full), 2)})
        skipped = tuple((s.email, why[s.email]) for s in slots if s.email in why)
        return Choice(email or None, held if email else 0, skipped)

    def assign(self, owner: str) -> int:
        return int(self.redis.hincrby(f"{self.base}:open", owner, 1))

    def release(self, owner: str) -> int:
        return int(self._release(keys=[f"{self.base}:open"], args=[owner]))

    def open_count(self, owner: str) -> int:
        return int(self.redis.hget(f"{self.base}:open", owner) or 0)
