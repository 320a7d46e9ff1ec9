"""Let a unit of database work finish even when the task running it is cancelled.

Cancelling a task in the middle of a transaction leaves the connection to the driver's cleanup;
with aiosqlite that can keep SQLite's write lock held long after the task is gone. The relay and
the consumers are cancelled whenever the platform stops, so each of their transactions runs to
its end first; the cancellation is then re-raised, whatever the work's outcome was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


async def run_to_completion(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` in its own task; if cancelled meanwhile, wait for it, then re-raise.

    The cancellation always wins over the work's own exception: a caller that is being stopped
    must stop, or whoever waits for it (a consumer's ``detach``) would wait forever.
    """
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            # asyncio.wait never cancels the task it waits for, and never raises its exception.
            await asyncio.wait({task})
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not task.cancelled() and task.exception() is not None:
            log.debug("work finished with %r while its caller was cancelled", task.exception())
        raise cancelled
    return task.result()
