"""run_to_completion: the work finishes, and the caller's cancellation is never lost."""

from __future__ import annotations

import asyncio

import pytest

from aiaas.events.shielding import run_to_completion


async def _slow(result: object, *, fail: bool = False, log: list[str]) -> object:
    await asyncio.sleep(0.05)
    log.append("finished")
    if fail:
        raise RuntimeError("work failed")
    return result


async def test_returns_the_work_result() -> None:
    log: list[str] = []
    assert await run_to_completion(_slow(7, log=log)) == 7


async def test_the_work_error_reaches_a_caller_that_was_not_cancelled() -> None:
    with pytest.raises(RuntimeError, match="work failed"):
        await run_to_completion(_slow(None, fail=True, log=[]))


@pytest.mark.parametrize("fail", [False, True])
async def test_cancellation_waits_for_the_work_then_wins(fail: bool) -> None:
    log: list[str] = []
    caller = asyncio.create_task(run_to_completion(_slow(1, fail=fail, log=log)))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done()  # still waiting for the work
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert log == ["finished"]


async def test_a_loop_that_swallows_errors_still_stops_when_cancelled() -> None:
    """The bus worker pattern: retry on any Exception, stop only on cancellation."""
    attempts = 0

    async def worker() -> None:
        nonlocal attempts
        while True:
            attempts += 1
            try:
                await run_to_completion(_slow(None, fail=True, log=[]))
            except Exception:
                continue

    task = asyncio.create_task(worker())
    await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.cancelled() and attempts == 1
