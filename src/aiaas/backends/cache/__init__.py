"""Key-value cache with expiry: Redis in production, an in-process store in embedded mode."""

from __future__ import annotations

from typing import Protocol

from aiaas.kit.errors import AppError


class Cache(Protocol):
    """Bytes under string keys, each with an optional time to live in seconds (``None``: no expiry).

    A non-positive ``ttl_seconds`` raises ``ValueError``. A backend failure raises
    ``ServiceUnavailable`` (code ``cache_unavailable``).
    """

    kind: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        """Atomically add ``amount`` (a missing key counts as 0) and return the new value.

        The expiry is set only when the key is created; later increments keep it. The value is
        stored as its decimal text, so ``get`` returns e.g. ``b"3"``. Raises
        :class:`CacheValueError` when the stored value is not a 64-bit integer or the sum overflows
        one.
        """
        ...

    async def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when the backend cannot be reached."""
        ...

    async def close(self) -> None: ...


class CacheValueError(AppError):
    """An increment met a value that is not a 64-bit integer, or would overflow one."""

    status, code, title = 500, "cache_value_not_integer", "Cached value is not an integer"


def check_ttl(ttl_seconds: float | None) -> None:
    """Reject a time to live that would make a key expire on arrival."""
    if ttl_seconds is not None and not ttl_seconds > 0:
        raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds}")


__all__ = ["Cache", "CacheValueError", "check_ttl"]
