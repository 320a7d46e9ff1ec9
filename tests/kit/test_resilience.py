"""Retry, circuit breaker, bulkhead and deadlines."""

from __future__ import annotations

import asyncio
import random

import pytest

from aiaas.kit.resilience import (
    BreakerRegistry,
    BreakerState,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    CircuitOpenError,
    Deadline,
    RetryPolicy,
    RetryState,
    parse_retry_after,
    retry_async,
    with_timeout,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


def failing(times: int, exc: Exception) -> tuple[list[int], object]:
    seen: list[int] = []

    async def operation(attempt: int) -> str:
        seen.append(attempt)
        if len(seen) <= times:
            raise exc
        return "done"

    return seen, operation


async def no_sleep(_seconds: float) -> None:
    return None


async def test_retry_succeeds_after_transient_failures() -> None:
    seen, op = failing(2, Flaky())
    state = RetryState()
    result = await retry_async(op, policy=RetryPolicy(max_attempts=3), retryable=lambda e: True,
                               sleep=no_sleep, state=state)  # type: ignore[arg-type]  # fmt: skip
    assert result == "done" and seen == [1, 2, 3] and state.attempts == 3 and len(state.delays) == 2


async def test_retry_gives_up_after_max_attempts_and_reraises() -> None:
    seen, op = failing(10, Flaky())
    with pytest.raises(Flaky):
        await retry_async(op, policy=RetryPolicy(max_attempts=4), retryable=lambda e: True,
                          sleep=no_sleep)  # type: ignore[arg-type]  # fmt: skip
    assert seen == [1, 2, 3, 4]


async def test_non_retryable_error_is_raised_at_once() -> None:
    seen, op = failing(10, ValueError("bad"))
    with pytest.raises(ValueError):
        await retry_async(op, policy=RetryPolicy(max_attempts=5), retryable=lambda e: isinstance(e, Flaky),
                          sleep=no_sleep)  # type: ignore[arg-type]  # fmt: skip
    assert seen == [1]


async def test_retry_after_is_honoured_and_capped() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    seen, op = failing(1, Flaky(retry_after=7.0))
    await retry_async(op, policy=RetryPolicy(max_attempts=2, initial_backoff=0.1), retryable=lambda e: True,
                      retry_after=lambda e: getattr(e, "retry_after", None), sleep=sleep)  # type: ignore[arg-type]  # fmt: skip
    assert slept == [7.0]
    seen, op = failing(1, Flaky(retry_after=120.0))
    with pytest.raises(Flaky):  # asking for longer than max_retry_after: give up instead of waiting
        await retry_async(op, policy=RetryPolicy(max_attempts=3, max_retry_after=30), retryable=lambda e: True,
                          retry_after=lambda e: getattr(e, "retry_after", None), sleep=sleep)  # type: ignore[arg-type]  # fmt: skip
    assert seen == [1]


async def test_retry_stops_when_the_wait_would_pass_the_deadline() -> None:
    clock = Clock()
    seen, op = failing(5, Flaky(retry_after=5.0))
    with pytest.raises(Flaky):
        await retry_async(op, policy=RetryPolicy(max_attempts=5), retryable=lambda e: True,
                          retry_after=lambda e: 5.0, deadline=Deadline(3.0, clock=clock),
                          sleep=no_sleep)  # type: ignore[arg-type]  # fmt: skip
    assert seen == [1]


def test_backoff_is_jittered_within_the_exponential_ceiling() -> None:
    policy = RetryPolicy(initial_backoff=1.0, multiplier=2.0, max_backoff=5.0)
    rng = random.Random(7)
    for retry in range(1, 8):
        ceiling = min(5.0, 2.0 ** (retry - 1))
        draws = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(0.0 <= d <= ceiling for d in draws) and len(set(draws)) > 1
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-4") == 0.0
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after(date, now=lambda: 1445412480.0 - 10) == pytest.approx(10.0)


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=3, recovery_seconds=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    with pytest.raises(CircuitOpenError) as raised:
        breaker.check()
    assert raised.value.status == 503 and raised.value.headers["Retry-After"] == "10"
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_breaker_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("dep", failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_breaker_registry_keeps_one_breaker_per_key() -> None:
    registry = BreakerRegistry(failure_threshold=1)
    a = registry.get("openai", "gpt")
    assert registry.get("openai", "gpt") is a and registry.get("openai", "other") is not a
    a.record_failure()
    assert (
        a.state is BreakerState.OPEN
        and registry.get("openai", "other").state is BreakerState.CLOSED
    )


async def test_bulkhead_limits_running_and_waiting_calls() -> None:
    bulkhead = Bulkhead("tools", max_concurrent=2, max_waiting=1)
    release = asyncio.Event()
    peak = 0

    async def call() -> None:
        nonlocal peak
        async with bulkhead.slot():
            peak = max(peak, bulkhead.running)
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert bulkhead.running == 2 and bulkhead.waiting == 1
    with pytest.raises(BulkheadFullError):
        async with bulkhead.slot():
            pass
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2 and bulkhead.running == 0 and bulkhead.waiting == 0


async def test_bulkhead_wait_times_out() -> None:
    bulkhead = Bulkhead("slow", max_concurrent=1, max_waiting=1, max_wait_seconds=0.01)
    async with bulkhead.slot():
        with pytest.raises(BulkheadFullError):
            async with bulkhead.slot():
                pass
    assert bulkhead.waiting == 0


def test_deadline_budget() -> None:
    clock = Clock()
    deadline = Deadline(5.0, clock=clock)
    assert deadline.timeout(2.0) == 2.0 and not deadline.expired
    clock.now += 4.0
    assert deadline.timeout(2.0) == pytest.approx(1.0)
    clock.now += 2.0
    assert deadline.expired and deadline.remaining() == 0.0
    unbounded = Deadline(None)
    assert unbounded.unbounded and unbounded.timeout(3.0) == 3.0 and unbounded.timeout() is None


async def test_with_timeout() -> None:
    assert await with_timeout(asyncio.sleep(0, result=4), 1.0) == 4
    with pytest.raises(TimeoutError):
        await with_timeout(asyncio.sleep(1), 0.01)
