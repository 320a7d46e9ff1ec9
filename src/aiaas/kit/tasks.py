"""Stopping background tasks for certain.

One ``task.cancel()`` does not always stop a loop. Python 3.11's ``asyncio.wait_for`` returns the
inner result, and drops the cancellation, when the awaited operation completes in the same loop
iteration as the cancel; client libraries (nats-py's ``fetch``, redis-py's pub/sub reads) wait
that way. A polling loop whose cancellation is lost simply polls again, and whoever waits for it
to stop waits forever. :func:`cancel_and_wait` cancels again until the task has really ended.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

#: Time a cancelled task is given to finish its clean-up before it is cancelled again.
RECANCEL_AFTER_SECONDS = 1.0


async def cancel_and_wait(
    *tasks: asyncio.Task[object] | None, recancel_after: float = RECANCEL_AFTER_SECONDS
) -> None:
    """Cancel ``tasks`` and return once every one has finished.

    A task still running ``recancel_after`` seconds after its cancellation is cancelled again (its
    cancellation was lost on the way); the tasks' results and exceptions are consumed, never
    raised. If the caller itself is cancelled while waiting, that cancellation propagates.
    """
    pending = {task for task in tasks if task is not None and not task.done()}
    rounds = 0
    while pending:
        for task in pending:
            task.cancel()
        if rounds == 1:
            log.info(
                "re-cancelling %d task(s) that ignored a cancellation: %s",
                len(pending),
                ", ".join(sorted(task.get_name() for task in pending)),
            )
        _, pending = await asyncio.wait(pending, timeout=recancel_after)
        rounds += 1
    for ended in tasks:
        if ended is not None and ended.done() and not ended.cancelled():
            ended.exception()  # retrieved, so asyncio does not log it as never retrieved
