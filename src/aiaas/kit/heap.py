"""The garbage collector's settings for a long-running server process."""

from __future__ import annotations

import gc


def settle_heap(young_threshold: int) -> None:
    """Freeze what start-up built and let the young generation grow to ``young_threshold``.

    Everything alive once start-up is done lives as long as the process: moved out of the
    collector's generations, it is no longer traversed by every full collection.

    Under concurrency the requests in flight hold thousands of short-lived containers between
    them while they wait on Redis, the database or an upstream model. With Python's default
    threshold (700 allocations) a young collection then runs every few requests, traverses those
    containers and promotes them, although reference counting frees them moments later; a
    threshold in the thousands lets them die first. ``0`` keeps the interpreter's threshold.
    """
    gc.freeze()
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
