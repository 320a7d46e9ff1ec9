"""GCRA rate limiter on Redis: one atomic Lua script, Redis's own clock, self-expiring keys."""

from __future__ import annotations

from redis.asyncio import Redis

from aiaas.backends.cache.redis_support import (
    LuaScript,
    create_client,
    ping_or_raise,
    redis_failures_as_unavailable,
)
from aiaas.backends.ratelimit import RateLimitResult
from aiaas.backends.ratelimit.gcra import GcraDecision, policy_for, to_result

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

_UNAVAILABLE = "rate_limiter_unavailable"


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

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when Redis does not answer."""
        await ping_or_raise(self._client, "the rate limiter", _UNAVAILABLE)

    async def close(self) -> None:
        """Close the client and release its connection pool."""
        await self._client.aclose()
