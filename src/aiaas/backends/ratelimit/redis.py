"""GCRA rate limiter on Redis: one atomic Lua script, Redis's own clock, self-expiring keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

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
# when the client was built without a socket timeout
_DEFAULT_TIMEOUT_SECONDS = 5.0
# A batch sent after this long without a reply may meet a connection that died unnoticed (as
# redis-py's health check interval assumes): if it times out, it is sent once more.
_IDLE_SECONDS = 30.0


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


def _batch_command(script: LuaScript, batch: Sequence[_PendingHit], *, with_source: bool) -> bytes:
    """``EVALSHA sha numkeys KEYS... ARGV...`` for the batch script, in RESP; ``EVAL source ...``
    ``with_source`` (Redis lost the script, and EVAL caches it again)."""
    key_count = sum(hit.request.key_count for hit in batch)
    # EVAL(SHA), the script, numkeys, the keys, the number of requests, then 2 + 2 per key per request
    words = 4 + 3 * key_count + 2 * len(batch)
    if with_source:
        head = b"*%d\r\n$4\r\nEVAL\r\n%s" % (words, _bulk(script.source.encode()))
    else:
        head = b"*%d\r\n$7\r\nEVALSHA\r\n%s" % (words, _bulk(script.sha.encode()))
    return b"".join(
        [
            head,
            _bulk(b"%d" % key_count),
            *(hit.request.keys for hit in batch),
            _bulk(b"%d" % len(batch)),
            *(hit.request.args for hit in batch),
        ]
    )


@dataclass(slots=True)
class _Flight:
    """A batch sent and not yet answered."""

    batch: list[_PendingHit]
    retried: bool = False
    """Sent once already, on a connection that dropped before it answered."""
    with_source: bool = False
    after_idle: bool = False
    """Sent on a connection that had been idle long enough to have died unnoticed."""


@dataclass(slots=True)
class _Link:
    """The batches' connection: opened (and authenticated) by redis-py, read by a _ReplyReader."""

    connection: AbstractConnection
    transport: asyncio.Transport
    last_reply: float
    """When it last answered (event loop time)."""


class _ReplyReader(asyncio.Protocol):
    """Reads the batches' connection once it is open: each reply is parsed as its bytes arrive and
    handed straight to the limiter, with no reader task, stream or per-call timeout between."""

    def __init__(self, on_reply: Callable[[Any], None], on_lost: Callable[[], None]) -> None:
        self._parser = hiredis.Reader()
        self._on_reply = on_reply
        self._on_lost = on_lost

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        reply = self._parser.gets()
        while reply is not False:
            self._on_reply(reply)
            reply = self._parser.gets()

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost()


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
        # Batches go out one at a time on a connection of their own: the requests that arrive
        # while one is in flight make up the next, so the busier the server, the fuller the batch.
        self._pending: list[_PendingHit] = []
        self._flight: _Flight | None = None
        self._retry: _Flight | None = None
        self._flush_scheduled = False
        self._link: _Link | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._dropped: list[AbstractConnection] = []
        self._deadline: asyncio.TimerHandle | None = None
        self._closed = False
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        self._timeout_seconds: float = timeout or _DEFAULT_TIMEOUT_SECONDS

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
        round trip; each is still decided on its own, in order. A batch whose connection drops is
        sent once more on a fresh one (at worst a batch whose reply was lost is charged twice).
        """
        policies = tuple(policy_for(item.limit, item.period_seconds, cost) for item in limits)
        loop = asyncio.get_running_loop()
        request = _packed_request(
            tuple(self.redis_key(item.key) for item in limits), policies, cost
        )
        pending = _PendingHit(request, loop.create_future())
        self._pending.append(pending)
        if self._flight is None and not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        values: list[int] = await pending.future
        return _results(values, policies)

    def _flush(self) -> None:
        """Send the next batch, unless one is in flight; connect first when needed."""
        self._flush_scheduled = False
        if self._flight is not None or (self._retry is None and not self._pending):
            return
        link = self._link
        if link is None:
            if self._closed:
                self._fail_waiting(
                    ServiceUnavailable("the rate limiter stopped", code=_UNAVAILABLE)
                )
            elif self._connecting is None:
                self._connecting = asyncio.get_running_loop().create_task(self._connect())
            return
        flight = self._retry
        if flight is None:
            flight = _Flight(self._pending)
            self._pending = []
        else:
            self._retry = None
        self._send(link, flight)

    def _send(self, link: _Link, flight: _Flight) -> None:
        self._flight = flight
        loop = asyncio.get_running_loop()
        flight.after_idle = loop.time() - link.last_reply > _IDLE_SECONDS
        link.transport.write(
            _batch_command(self._script_batch, flight.batch, with_source=flight.with_source)
        )
        self._deadline = loop.call_later(self._timeout_seconds, self._timed_out, link)

    def _replied(self, link: _Link, reply: Any) -> None:
        flight = self._flight
        if link is not self._link or flight is None:
            return
        self._flight = None
        if self._deadline is not None:
            self._deadline.cancel()
        link.last_reply = asyncio.get_running_loop().time()
        if isinstance(reply, hiredis.ReplyError):
            if str(reply).startswith("NOSCRIPT") and not flight.with_source:
                # Redis restarted or its script cache was flushed: EVAL loads it again.
                flight.with_source = True
                self._send(link, flight)
                return
            _fail(flight.batch, _unavailable(f"Redis answered {reply}"))
        else:
            values: list[int] = reply
            offset = 0
            for hit in flight.batch:
                size = 5 * hit.request.key_count
                if not hit.future.done():
                    hit.future.set_result(values[offset : offset + size])
                offset += size
        if self._pending:
            self._flush()

    def _lost(self, link: _Link) -> None:
        # A connection that dropped (Redis restarted, a proxy timed it out) gets one more try.
        if link is self._link:
            self._abandon_link(retry=True, reason="the connection to Redis dropped")

    def _timed_out(self, link: _Link) -> None:
        # Only after a long idle: a firewall may have cut the connection without a word.
        if link is self._link:
            retry = self._flight is not None and self._flight.after_idle
            self._abandon_link(retry=retry, reason="Redis did not answer in time")

    def _abandon_link(self, *, retry: bool, reason: str) -> None:
        """Give up the connection; its batch in flight goes once more on a fresh one when
        ``retry`` (and it has not been sent twice already), else fails with ``reason``. A late
        reply can then never answer the next batch."""
        flight, self._flight = self._flight, None
        self._drop_link()
        if flight is not None:
            if retry and not flight.retried:
                flight.retried = True
                self._retry = flight
            else:
                _fail(flight.batch, _unavailable(reason))
        self._flush()

    def _drop_link(self) -> None:
        link, self._link = self._link, None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if link is not None:
            link.transport.close()
            self._dropped.append(link.connection)

    async def _connect(self) -> None:
        try:
            for connection in self._dropped:
                await connection.disconnect(nowait=True)
            self._dropped.clear()
            connection = self._client.connection_pool.make_connection()
            # redis-py opens the socket and does the hand-shake (TLS, AUTH, SELECT, HELLO); the
            # limiter then reads the socket itself.
            await connection.connect()
            writer = connection._writer  # the socket it opened (redis-py keeps it private)
            if writer is None:
                raise RedisConnectionError("the connection closed during its hand-shake")
            link = _Link(
                connection,
                cast(asyncio.Transport, writer.transport),
                asyncio.get_running_loop().time(),
            )
            link.transport.set_protocol(
                _ReplyReader(partial(self._replied, link), partial(self._lost, link))
            )
            self._link = link
        except Exception as exc:
            self._fail_waiting(_unavailable(str(exc)))
            return
        finally:
            self._connecting = None
        self._flush()

    def _fail_waiting(self, error: ServiceUnavailable) -> None:
        """Fail every call still waiting: the batch in flight, the one to resend, the pending."""
        for flight in (self._flight, self._retry):
            if flight is not None:
                _fail(flight.batch, error)
        self._flight = self._retry = None
        pending, self._pending = self._pending, []
        _fail(pending, error)

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when Redis does not answer."""
        await ping_or_raise(self._client, "the rate limiter", _UNAVAILABLE)

    async def close(self) -> None:
        """Close the batches' connection and the client's pool; calls still waiting, and any
        made after, fail."""
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        self._drop_link()
        self._fail_waiting(ServiceUnavailable("the rate limiter stopped", code=_UNAVAILABLE))
        for connection in self._dropped:
            await connection.disconnect(nowait=True)
        self._dropped.clear()
        await self._client.aclose()


def _unavailable(reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"the rate limiter is unavailable: {reason}", code=_UNAVAILABLE)


def _fail(batch: Sequence[_PendingHit], error: BaseException) -> None:
    for hit in batch:
        if not hit.future.done():
            hit.future.set_exception(error)
