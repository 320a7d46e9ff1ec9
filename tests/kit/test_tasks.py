"""Stopping a background task whose cancellation gets lost on the way."""

from __future__ import annotations

import asyncio

import pytest

from aiaas.kit.tasks import cancel_and_wait


async def _poll_swallowing_cancellations(swallow: int, polls: list[int]) -> None:
    """A polling loop around a client call that drops the first ``swallow`` cancellations, as
    Python 3.11's ``wait_for`` does when the awaited read completes alongside the cancel."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if swallow <= 0:
                raise
            swallow -= 1
        polls.append(1)


async def test_a_task_that_drops_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    polls: list[int] = []
    task = asyncio.create_task(_poll_swallowing_cancellations(2, polls))
    await asyncio.sleep(0.03)
    await asyncio.wait_for(cancel_and_wait(task, recancel_after=0.05), timeout=5)
    assert task.cancelled()


async def test_one_cancel_is_enough_for_a_well_behaved_task_and_nothing_is_raised() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            raise RuntimeError("clean-up failed")

    sleeper = asyncio.create_task(asyncio.sleep(10))
    failing = asyncio.create_task(fails_on_cancel())
    finished = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait(sleeper, failing, finished, None), timeout=1)
    assert sleeper.cancelled() and finished.done() and not finished.cancelled()
    assert isinstance(failing.exception(), RuntimeError)


async def test_the_callers_own_cancellation_propagates() -> None:
    stubborn = asyncio.create_task(_poll_swallowing_cancellations(50, []))
    stopper = asyncio.create_task(cancel_and_wait(stubborn, recancel_after=0.05))
    await asyncio.sleep(0.1)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    await asyncio.wait_for(cancel_and_wait(stubborn, recancel_after=0.001), timeout=5)
    assert stubborn.cancelled()
