"""Key-value cache with expiry: Redis in production, an in-process store in embedded mode."""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    kind: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        """Atomically add ``amount``; the expiry is set when the key is created."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
