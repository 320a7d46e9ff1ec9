"""Let a unit of database work finish even when the task running it is cancelled.

Cancelling a task in the middle of a transaction leaves the connection to the driver's cleanup;
with aiosqlite that can keep SQLite's write lock held long after the task is gone. The relay and
the consumers are cancelled whenever the platform stops, so each of their transactions runs to
its end first; the cancellation is then re-raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def run_to_completion(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` in its own task; if cancelled meanwhile, wait for it, then re-raise."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = exc
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result
