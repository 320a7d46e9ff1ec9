"""In-process cache for the embedded mode: bounded, least recently used first out, with expiry."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable

from aiaas.backends.cache import CacheValueError, check_ttl

# What Redis accepts as an integer for INCRBY: no sign on zero, no leading zeros, no spaces.
_INTEGER = re.compile(rb"0|-?[1-9][0-9]*")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class MemoryCache:
    """A dict of ``key -> (value, expires_at)`` on a monotonic clock, in least-recently-used order.

    Expired entries are dropped when read, and all at once every ``purge_interval_seconds`` (checked
    on each call, so an idle cache costs nothing). Past ``max_entries`` the least recently used
    entry is evicted. Every method runs to completion without awaiting, so concurrent tasks never
    see a half-done update; it is not meant to be shared across threads.
    """

    kind = "memory"

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        purge_interval_seconds: float = 30.0,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._purge_interval = purge_interval_seconds
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._next_purge: float | None = None

    def __len__(self) -> int:
        """Number of entries held, expired ones not yet purged included."""
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when missing or expired."""
        now = self._tick()
        entry = self._live(key, now)
        return None if entry is None else entry[0]

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        """Store ``value``, replacing any previous value and expiry."""
        check_ttl(ttl_seconds)
        now = self._tick()
        self._store(key, value, None if ttl_seconds is None else now + ttl_seconds)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        self._tick()
        self._entries.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        """Add ``amount``; a new key starts at 0 with ``ttl_seconds``, an existing one keeps its."""
        check_ttl(ttl_seconds)
        if not _INT64_MIN <= amount <= _INT64_MAX:
            raise CacheValueError(f"cannot increment {key!r} by {amount}: not a 64-bit integer")
        now = self._tick()
        entry = self._live(key, now)
        if entry is None:
            current, expires_at = 0, (None if ttl_seconds is None else now + ttl_seconds)
        else:
            raw, expires_at = entry
            if not _INTEGER.fullmatch(raw) or not _INT64_MIN <= int(raw) <= _INT64_MAX:
                raise CacheValueError(f"the value under {key!r} is not an integer")
            current = int(raw)
        total = current + amount
        if not _INT64_MIN <= total <= _INT64_MAX:
            raise CacheValueError(f"incrementing {key!r} by {amount} would overflow")
        self._store(key, str(total).encode(), expires_at)
        return total

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def _live(self, key: str, now: float) -> tuple[bytes, float | None] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at = entry[1]
        if expires_at is not None and expires_at <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: bytes, expires_at: float | None) -> None:
        self._entries[key] = (value, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _tick(self) -> float:
        """The current time; purges every expired entry when the purge interval has passed."""
        now = self._clock()
        if self._next_purge is None:
            self._next_purge = now + self._purge_interval
        elif now >= self._next_purge:
            self._next_purge = now + self._purge_interval
            expired = [k for k, (_, exp) in self._entries.items() if exp is not None and exp <= now]
            for key in expired:
                del self._entries[key]
        return now
