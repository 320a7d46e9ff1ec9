"""Cache on Redis, every key under ``<namespace>:`` so several deployments can share one server."""

from __future__ import annotations

import math
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from aiaas.backends.cache import CacheValueError, check_ttl
from aiaas.backends.cache.redis_support import (
    create_client,
    ping_or_raise,
    redis_failures_as_unavailable,
)

_UNAVAILABLE = "cache_unavailable"
# Redis's wording when INCRBY meets a non-integer or would overflow.
_NOT_AN_INTEGER = ("not an integer", "overflow")


def _ttl_ms(ttl_seconds: float) -> int:
    # Round up: a key must never expire before the time asked for.
    return max(1, math.ceil(ttl_seconds * 1000))


class RedisCache:
    """:class:`~aiaas.backends.cache.Cache` on ``redis.asyncio`` with one connection pool.

    A Redis failure raises ``ServiceUnavailable`` (code ``cache_unavailable``).
    """

    kind = "redis"

    def __init__(self, client: Redis, *, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:"

    @classmethod
    def from_url(cls, url: str, *, namespace: str, max_connections: int = 50) -> RedisCache:
        """A cache with its own connection pool to ``url``."""
        return cls(create_client(url, max_connections=max_connections), namespace=namespace)

    def redis_key(self, key: str) -> str:
        """The Redis key holding ``key``."""
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when missing or expired."""
        with redis_failures_as_unavailable("the cache", _UNAVAILABLE):
            value = await cast(Any, self._client.get(self.redis_key(key)))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        """Store ``value``, replacing any previous value and expiry."""
        check_ttl(ttl_seconds)
        px = None if ttl_seconds is None else _ttl_ms(ttl_seconds)
        with redis_failures_as_unavailable("the cache", _UNAVAILABLE):
            await self._client.set(self.redis_key(key), value, px=px)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        with redis_failures_as_unavailable("the cache", _UNAVAILABLE):
            await self._client.delete(self.redis_key(key))

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        """Add ``amount``; a new key starts at 0 and gets ``ttl_seconds``, an existing one keeps
        its.

        One MULTI/EXEC transaction: ``SET key 0 NX PX ttl`` creates the key with its expiry only
        when it is missing, then ``INCRBY`` adds, so no client can see the key without its expiry.
        """
        check_ttl(ttl_seconds)
        name = self.redis_key(key)
        with redis_failures_as_unavailable("the cache", _UNAVAILABLE):
            try:
                async with self._client.pipeline(transaction=True) as pipe:
                    if ttl_seconds is not None:
                        pipe.set(name, 0, nx=True, px=_ttl_ms(ttl_seconds))
                    pipe.incrby(name, amount)
                    replies = await pipe.execute()
            except ResponseError as exc:
                if any(marker in str(exc) for marker in _NOT_AN_INTEGER):
                    raise CacheValueError(f"cannot increment {key!r} by {amount}: {exc}") from exc
                raise
        return int(replies[-1])

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when Redis does not answer."""
        await ping_or_raise(self._client, "the cache", _UNAVAILABLE)

    async def close(self) -> None:
        """Close the client and release its connection pool."""
        await self._client.aclose()
