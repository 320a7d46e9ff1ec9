"""GCRA rate limiter on Redis: one atomic Lua script, Redis's own clock, self-expiring keys."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from aiaas.backends.cache.redis_support import (
    LuaScript,
    create_client,
    ping_or_raise,
    redis_failures_as_unavailable,
)
from aiaas.backends.ratelimit import Limit, RateLimitResult
from aiaas.backends.ratelimit.gcra import GcraDecision, GcraPolicy, policy_for, to_result

# Mirrors gcra.decide. Time comes from the Redis server so every replica of the platform judges by
# one clock. Every value is an integer number of microseconds below 2**53, exact in Lua's doubles;
# the TAT is written with %d because tostring() would print it with only 14 significant digits.
# The key expires when its TAT passes: a full bucket and a missing key mean the same thing.
_GCRA_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local emission = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tolerance = emission * limit
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission * cost
local allow_at = new_tat - tolerance
if now < allow_at then
  local remaining = math.floor((now - (tat - tolerance)) / emission)
  return {0, tat, remaining, allow_at - now, tat - now}
end
if cost > 0 then
  local ttl_ms = math.floor((new_tat - now + 999) / 1000)
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
end
return {1, new_tat, math.floor((now - allow_at) / emission), 0, new_tat - now}
"""

# A batch of requests, each charging several buckets all or nothing, in one script call. Requests
# are decided in order, each seeing the writes of the ones before it, exactly as if they had come one
# by one. ARGV = number of requests, then per request: its number of keys, its cost, and (emission,
# limit) per key; KEYS holds every request's keys in the same order. Five integers per key come back.
_GCRA_BATCH_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local reply = {}
local arg = 2
local key_index = 1
for _ = 1, tonumber(ARGV[1]) do
  local nkeys = tonumber(ARGV[arg])
  local cost = tonumber(ARGV[arg + 1])
  arg = arg + 2
  local writes = {}
  local all_allowed = true
  for _ = 1, nkeys do
    local key = KEYS[key_index]
    key_index = key_index + 1
    local emission = tonumber(ARGV[arg])
    local limit = tonumber(ARGV[arg + 1])
    arg = arg + 2
    local tolerance = emission * limit
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    local new_tat = tat + emission * cost
    local allow_at = new_tat - tolerance
    if now < allow_at then
      all_allowed = false
      table.insert(reply, 0)
      table.insert(reply, tat)
      table.insert(reply, math.floor((now - (tat - tolerance)) / emission))
      table.insert(reply, allow_at - now)
      table.insert(reply, tat - now)
    else
      table.insert(writes, {key, new_tat})
      table.insert(reply, 1)
      table.insert(reply, new_tat)
      table.insert(reply, math.floor((now - allow_at) / emission))
      table.insert(reply, 0)
      table.insert(reply, new_tat - now)
    end
  end
  if all_allowed and cost > 0 then
    for _, write in ipairs(writes) do
      local ttl_ms = math.floor((write[2] - now + 999) / 1000)
      redis.call('SET', write[1], string.format('%d', write[2]), 'PX', ttl_ms)
    end
  end
end
return reply
"""

_UNAVAILABLE = "rate_limiter_unavailable"


@dataclass(slots=True)
class _PendingHit:
    keys: list[str]
    policies: list[GcraPolicy]
    cost: int
    future: asyncio.Future[list[int]]


class RedisRateLimiter:
    """GCRA buckets in Redis under ``<namespace>:rl:<key>``, decided atomically by one Lua script.

    Results match :class:`~aiaas.backends.ratelimit.memory.MemoryRateLimiter` field for field. A
    Redis failure raises ``ServiceUnavailable`` (code ``rate_limiter_unavailable``); whether to fail
    open or closed is the caller's decision.
    """

    kind = "redis"

    def __init__(self, client: Redis, *, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:rl:"
        self._script = LuaScript(_GCRA_LUA)
        self._script_batch = LuaScript(_GCRA_BATCH_LUA)
        self._pending: list[_PendingHit] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, *, namespace: str, max_connections: int = 50) -> RedisRateLimiter:
        """A limiter with its own connection pool to ``url``."""
        return cls(create_client(url, max_connections=max_connections), namespace=namespace)

    def redis_key(self, key: str) -> str:
        """The Redis key holding the bucket of ``key``."""
        return self._prefix + key

    async def hit(
        self, key: str, limit: int, period_seconds: float, cost: int = 1
    ) -> RateLimitResult:
        """Count ``cost`` requests against ``limit`` per ``period_seconds`` for ``key``."""
        policy = policy_for(limit, period_seconds, cost)
        with redis_failures_as_unavailable("the rate limiter", _UNAVAILABLE):
            reply = await self._script.run(
                self._client, [self.redis_key(key)], [policy.emission_us, policy.limit, cost]
            )
        allowed, tat, remaining, retry_after, reset_after = (int(v) for v in reply)
        decision = GcraDecision(
            allowed=allowed == 1,
            tat_us=tat,
            remaining=remaining,
            retry_after_us=retry_after,
            reset_after_us=reset_after,
        )
        return to_result(decision, policy)

    async def hit_all(self, limits: Sequence[Limit], cost: int = 1) -> list[RateLimitResult]:
        """Charge every bucket or none, atomically.

        Calls made in the same turn of the event loop are sent together as one script call, so under
        load many requests share one round trip; each is still decided on its own, in order.
        """
        policies = [policy_for(item.limit, item.period_seconds, cost) for item in limits]
        loop = asyncio.get_running_loop()
        pending = _PendingHit(
            [self.redis_key(item.key) for item in limits], policies, cost, loop.create_future()
        )
        if not self._pending:
            loop.call_soon(self._send_batch)
        self._pending.append(pending)
        values: list[int] = await pending.future
        results = []
        for index, policy in enumerate(policies):
            allowed, tat, remaining, retry_after, reset_after = values[5 * index : 5 * index + 5]
            decision = GcraDecision(
                allowed=allowed == 1,
                tat_us=tat,
                remaining=remaining,
                retry_after_us=retry_after,
                reset_after_us=reset_after,
            )
            results.append(to_result(decision, policy))
        return results

    def _send_batch(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _run_batch(self, batch: list[_PendingHit]) -> None:
        keys: list[str] = []
        args: list[int] = [len(batch)]
        for hit in batch:
            keys += hit.keys
            args += [len(hit.keys), hit.cost]
            for policy in hit.policies:
                args += [policy.emission_us, policy.limit]
        try:
            with redis_failures_as_unavailable("the rate limiter", _UNAVAILABLE):
                reply = await self._script_batch.run(self._client, keys, args)
        except BaseException as exc:
            for hit in batch:
                if not hit.future.done():
                    hit.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        values = [int(v) for v in reply]
        offset = 0
        for hit in batch:
            size = 5 * len(hit.keys)
            if not hit.future.done():
                hit.future.set_result(values[offset : offset + size])
            offset += size

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when Redis does not answer."""
        await ping_or_raise(self._client, "the rate limiter", _UNAVAILABLE)

    async def close(self) -> None:
        """Close the client and release its connection pool."""
        await self._client.aclose()
