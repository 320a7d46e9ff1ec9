"""What the Redis cache and the Redis rate limiter share.

A client with its own bounded pool, Lua scripts run by SHA, and Redis failures turned into a 503.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import NoScriptError, RedisError

from aiaas.kit.errors import ServiceUnavailable


def create_client(
    url: str,
    *,
    max_connections: int = 50,
    pool_timeout_seconds: float = 5.0,
    socket_timeout_seconds: float = 2.0,
) -> Redis:
    """A client owning its own connection pool; closing the client releases the pool.

    The pool is bounded and blocking: a burst of concurrent calls waits up to
    ``pool_timeout_seconds`` for a free connection instead of opening one connection per call.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout_seconds,
        socket_timeout=socket_timeout_seconds,
        socket_connect_timeout=socket_timeout_seconds,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)


class LuaScript:
    """A Lua script run by SHA (``EVALSHA``), sent in full (``EVAL``) only when Redis lacks it.

    ``EVAL`` also caches the script on the server, so after a restart or ``SCRIPT FLUSH`` the next
    call is back on the short path.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, client: Redis, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """Run the script atomically on ``keys`` with ``args``; returns the script's reply."""
        try:
            return await cast(Any, client.evalsha(self.sha, len(keys), *keys, *args))
        except NoScriptError:
            return await cast(Any, client.eval(self.source, len(keys), *keys, *args))


@contextmanager
def redis_failures_as_unavailable(what: str, code: str) -> Iterator[None]:
    """Re-raise any Redis failure (unreachable, timeout, out of memory, read-only replica) as a
    503."""
    try:
        yield
    except RedisError as exc:
        raise ServiceUnavailable(f"{what} is unavailable: {exc}", code=code) from exc


async def ping_or_raise(client: Redis, what: str, code: str) -> None:
    """Round-trip to Redis; raise ``ServiceUnavailable`` when it does not answer."""
    with redis_failures_as_unavailable(what, code):
        await cast(Any, client.ping())
