"""GCRA rate limiter on Redis: one atomic Lua script, Redis's own clock, self-expiring keys."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from aiaas.backends.cache.redis_support import (
    LuaScript,
    create_client,
    ping_or_raise,
    redis_failures_as_unavailable,
)
from aiaas.backends.ratelimit import Limit, RateLimitResult
from aiaas.backends.ratelimit.gcra import MICROS, GcraPolicy, policy_for
from aiaas.kit.errors import ServiceUnavailable

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
# A batch's requests mostly share their buckets (one tenant's callers), so each bucket is read once
# into `tats`, decided on there, and written once at the end with its last TAT: the same final
# state as a write per request, for a fraction of Redis's time (`now` is one instant for the batch).
_GCRA_BATCH_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local reply = {}
local n = 0
local tats = {}
local written = {}
local order = {}
local arg = 2
local key_index = 1
for _ = 1, tonumber(ARGV[1]) do
  local nkeys = tonumber(ARGV[arg])
  local cost = tonumber(ARGV[arg + 1])
  arg = arg + 2
  local first_key = key_index
  local all_allowed = true
  for _ = 1, nkeys do
    local key = KEYS[key_index]
    key_index = key_index + 1
    local emission = tonumber(ARGV[arg])
    local limit = tonumber(ARGV[arg + 1])
    arg = arg + 2
    local tolerance = emission * limit
    local tat = tats[key]
    if tat == nil then
      tat = tonumber(redis.call('GET', key) or now)
      if tat < now then tat = now end
      tats[key] = tat
    end
    local new_tat = tat + emission * cost
    local allow_at = new_tat - tolerance
    if now < allow_at then
      all_allowed = false
      reply[n + 1] = 0
      reply[n + 2] = tat
      reply[n + 3] = math.floor((now - (tat - tolerance)) / emission)
      reply[n + 4] = allow_at - now
      reply[n + 5] = tat - now
    else
      reply[n + 1] = 1
      reply[n + 2] = new_tat
      reply[n + 3] = math.floor((now - allow_at) / emission)
      reply[n + 4] = 0
      reply[n + 5] = new_tat - now
    end
    n = n + 5
  end
  if all_allowed and cost > 0 then
    -- reply[.. + 2] holds each allowed bucket's new TAT, in key order
    for index = first_key, key_index - 1 do
      local key = KEYS[index]
      if not written[key] then
        written[key] = true
        order[#order + 1] = key
      end
      tats[key] = reply[n - 5 * (key_index - index) + 2]
    end
  end
end
for _, key in ipairs(order) do
  local tat = tats[key]
  local ttl_ms = math.floor((tat - now + 999) / 1000)
  redis.call('SET', key, string.format('%d', tat), 'PX', ttl_ms)
end
return reply
"""

_UNAVAILABLE = "rate_limiter_unavailable"


@dataclass(slots=True)
class _PendingHit:
    request: _PackedRequest
    future: asyncio.Future[list[int]]


@dataclass(frozen=True, slots=True)
class _PackedRequest:
    """One request's part of a batch command, already in the Redis wire format (RESP)."""

    key_count: int
    keys: bytes
    """Its keys, one bulk string each."""
    args: bytes
    """Its arguments: number of keys, cost, then emission and limit per key."""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


@lru_cache(maxsize=65_536)
def _packed_request(
    keys: tuple[str, ...], policies: tuple[GcraPolicy, ...], cost: int
) -> _PackedRequest:
    # The same caller sends the same keys and policies on every request: packed once.
    args = [b"%d" % len(keys), b"%d" % cost]
    for policy in policies:
        args += [b"%d" % policy.emission_us, b"%d" % policy.limit]
    return _PackedRequest(
        len(keys),
        b"".join(_bulk(key.encode()) for key in keys),
        b"".join(_bulk(arg) for arg in args),
    )


def _results(values: list[int], policies: Sequence[GcraPolicy]) -> list[RateLimitResult]:
    """The results of the script's reply: five integers per bucket, as :func:`gcra.decide` has
    them. ``to_result`` of that decision, field for field, without building the decision: this
    runs for every bucket of every request."""
    return [
        RateLimitResult(
            values[offset] == 1,
            policy.limit,
            values[offset + 2],
            values[offset + 3] / MICROS,
            values[offset + 4] / MICROS,
        )
        for offset, policy in zip(range(0, 5 * len(policies), 5), policies, strict=True)
    ]


def _batch_command(sha: str, batch: Sequence[_PendingHit]) -> bytes:
    """``EVALSHA sha numkeys KEYS... ARGV...`` for the batch script, in RESP."""
    key_count = sum(hit.request.key_count for hit in batch)
    # EVALSHA, sha, numkeys, the keys, the number of requests, then 2 + 2 per key per request
    words = 4 + 3 * key_count + 2 * len(batch)
    head = b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (
        words,
        _bulk(sha.encode()),
        _bulk(b"%d" % key_count),
    )
    return b"".join(
        [
            head,
            *(hit.request.keys for hit in batch),
            _bulk(b"%d" % len(batch)),
            *(hit.request.args for hit in batch),
        ]
    )


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
        self._sender: asyncio.Task[None] | None = None
        # Batches go out one at a time on a connection of their own: the requests that arrive
        # while one is in flight make up the next, so the busier the server, the fuller the batch.
        self._connection: AbstractConnection | None = None

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
        (result,) = _results([int(v) for v in reply], (policy,))
        return result

    async def hit_all(self, limits: Sequence[Limit], cost: int = 1) -> list[RateLimitResult]:
        """Charge every bucket or none, atomically.

        Calls are sent together as one script call: those made in the same turn of the event loop,
        and those made while the previous batch was in flight. Under load many requests share one
        round trip; each is still decided on its own, in order.
        """
        policies = tuple(policy_for(item.limit, item.period_seconds, cost) for item in limits)
        loop = asyncio.get_running_loop()
        request = _packed_request(
            tuple(self.redis_key(item.key) for item in limits), policies, cost
        )
        pending = _PendingHit(request, loop.create_future())
        self._pending.append(pending)
        if self._sender is None:
            self._sender = loop.create_task(self._send_batches())
        values: list[int] = await pending.future
        return _results(values, policies)

    async def _send_batches(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run_batch(batch)
        finally:
            self._sender = None
            # Left only when this task was cancelled (shutdown): nobody would answer them.
            stranded, self._pending = self._pending, []
            for hit in stranded:
                if not hit.future.done():
                    hit.future.set_exception(
                        ServiceUnavailable("the rate limiter stopped", code=_UNAVAILABLE)
                    )

    async def _run_batch(self, batch: list[_PendingHit]) -> None:
        try:
            with redis_failures_as_unavailable("the rate limiter", _UNAVAILABLE):
                reply = await self._batch_reply(_batch_command(self._script_batch.sha, batch))
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
            size = 5 * hit.request.key_count
            if not hit.future.done():
                hit.future.set_result(values[offset : offset + size])
            offset += size

    async def _batch_reply(self, command: bytes) -> Any:
        try:
            return await self._round_trip(command)
        except NoScriptError:
            # Redis restarted or its script cache was flushed: load it, then run it by SHA.
            await self._client.script_load(self._script_batch.source)
            return await self._round_trip(command)
        except RedisConnectionError:
            # A connection dropped while idle (Redis restarted, a proxy timed it out): one more
            # try on a fresh one. At worst a batch whose reply was lost is charged twice.
            return await self._round_trip(command)

    async def _round_trip(self, command: bytes) -> Any:
        connection = self._connection
        if connection is None:
            connection = self._connection = self._client.connection_pool.make_connection()
        # Connects (again) when needed; on a failure it disconnects, so the next call reconnects.
        await connection.send_packed_command(command, check_health=False)
        return await connection.read_response()

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when Redis does not answer."""
        await ping_or_raise(self._client, "the rate limiter", _UNAVAILABLE)

    async def close(self) -> None:
        """Close the client, the batches' connection and the connection pool."""
        if self._connection is not None:
            await self._connection.disconnect()
            self._connection = None
        await self._client.aclose()
