"""The GCRA rate limiters: one suite over memory and Redis, plus what only one of them can show."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from fractions import Fraction
from typing import Any, TypeVar, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from aiaas.backends.cache.redis_support import LuaScript, create_client
from aiaas.backends.ratelimit import (
    CostExceedsLimit,
    Limit,
    RateLimiter,
    RateLimitResult,
    rate_limit_header_fields,
    rate_limit_headers,
)
from aiaas.backends.ratelimit.factory import build_rate_limiter
from aiaas.backends.ratelimit.memory import MemoryRateLimiter
from aiaas.backends.ratelimit.redis import RedisRateLimiter
from aiaas.config import Settings
from aiaas.kit.errors import ServiceUnavailable

T = TypeVar("T")
HOUR = 3600.0


class FakeClock:
    """Monotonic seconds held as whole microseconds, so advancing by a result is exact."""

    def __init__(self, start_seconds: float = 1000.0) -> None:
        self.micros = round(start_seconds * 1_000_000)

    def __call__(self) -> float:
        return self.micros / 1_000_000

    def advance(self, seconds: float) -> None:
        self.micros += round(seconds * 1_000_000)


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that must finish without suspending (proof that it is atomic on the loop)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise AssertionError("the coroutine suspended")


@pytest.fixture
async def limiter(backend_settings: Settings) -> AsyncIterator[RateLimiter]:
    built = build_rate_limiter(backend_settings)
    assert built.kind == ("redis" if backend_settings.redis_url else "memory")
    yield built
    await built.close()


@pytest.fixture
async def redis_limiter(redis_url: str, redis_namespace: str) -> AsyncIterator[RedisRateLimiter]:
    built = RedisRateLimiter.from_url(redis_url, namespace=redis_namespace)
    yield built
    await built.close()


def new_key() -> str:
    return f"tenant:{secrets.token_hex(8)}"


# ---- both backends ----------------------------------------------------------------------------


async def test_concurrent_hits_admit_exactly_the_limit(limiter: RateLimiter) -> None:
    key = new_key()
    results = await asyncio.gather(*(limiter.hit(key, 50, HOUR) for _ in range(200)))
    admitted = [r for r in results if r.allowed]
    assert len(admitted) == 50
    # Each admission saw a distinct bucket state: no two requests read the same level.
    assert sorted(r.remaining for r in admitted) == list(range(50))
    rejected = [r for r in results if not r.allowed]
    assert all(r.remaining == 0 and r.retry_after > 0 for r in rejected)


async def test_exhausted_tenant_leaves_other_tenants_alone(limiter: RateLimiter) -> None:
    tenant_a, tenant_b = new_key(), new_key()
    for _ in range(5):
        await limiter.hit(tenant_a, 3, HOUR)
    assert not (await limiter.hit(tenant_a, 3, HOUR)).allowed
    admitted_b = [(await limiter.hit(tenant_b, 3, HOUR)).allowed for _ in range(4)]
    assert admitted_b == [True, True, True, False]


async def test_cost_counts_several_requests(limiter: RateLimiter) -> None:
    key = new_key()
    first = await limiter.hit(key, 10, HOUR, cost=4)
    second = await limiter.hit(key, 10, HOUR, cost=4)
    third = await limiter.hit(key, 10, HOUR, cost=4)
    assert (first.allowed, first.remaining) == (True, 6)
    assert (second.allowed, second.remaining) == (True, 2)
    # Rejected: two units are free but four were asked; the two missing units take 2 x 360 s.
    assert (third.allowed, third.remaining) == (False, 2)
    assert third.retry_after == pytest.approx(720, abs=1)
    last = await limiter.hit(key, 10, HOUR, cost=2)
    assert (last.allowed, last.remaining) == (True, 0)
    assert last.reset_after == pytest.approx(HOUR, abs=1)


async def test_fresh_key_result_fields(limiter: RateLimiter) -> None:
    key = new_key()
    first = await limiter.hit(key, 10, 60)
    assert first == RateLimitResult(
        allowed=True, limit=10, remaining=9, retry_after=0.0, reset_after=first.reset_after
    )
    assert first.reset_after == pytest.approx(6.0, abs=0.5)
    for _ in range(2):
        third = await limiter.hit(key, 10, 60)
    assert third.remaining == 7
    assert third.reset_after == pytest.approx(18.0, abs=0.5)


async def test_zero_cost_reads_without_consuming(limiter: RateLimiter) -> None:
    key = new_key()
    peek = await limiter.hit(key, 5, HOUR, cost=0)
    assert (peek.allowed, peek.remaining, peek.reset_after) == (True, 5, 0.0)
    await limiter.hit(key, 5, HOUR, cost=2)
    peek = await limiter.hit(key, 5, HOUR, cost=0)
    assert (peek.allowed, peek.remaining) == (True, 3)
    assert (await limiter.hit(key, 5, HOUR, cost=3)).allowed


async def test_invalid_arguments_are_refused(limiter: RateLimiter) -> None:
    key = new_key()
    with pytest.raises(CostExceedsLimit) as too_costly:
        await limiter.hit(key, 3, HOUR, cost=4)
    assert too_costly.value.status == 400
    assert too_costly.value.code == "rate_limit_cost_exceeds_limit"
    for limit, period, cost in ((0, HOUR, 1), (3, 0.0, 1), (3, -1.0, 1), (3, HOUR, -1)):
        with pytest.raises(ValueError):
            await limiter.hit(key, limit, period, cost)
    assert (await limiter.hit(key, 3, HOUR)).remaining == 2


async def test_ping_answers(limiter: RateLimiter) -> None:
    await limiter.ping()


# ---- the same scenario on both ------------------------------------------------------------------

SCENARIO_COSTS = [3, 1, 4, 1, 5, 0, 9, 2, 6, 5, 3, 1, 1, 2, 0, 1]


async def test_memory_and_redis_agree(redis_limiter: RedisRateLimiter) -> None:
    memory = MemoryRateLimiter(clock=FakeClock())
    key = new_key()
    # A one-hour period: the milliseconds between Redis calls refill nothing.
    on_memory = [await memory.hit(key, 12, HOUR, cost) for cost in SCENARIO_COSTS]
    on_redis = [await redis_limiter.hit(key, 12, HOUR, cost) for cost in SCENARIO_COSTS]
    assert [(r.allowed, r.remaining) for r in on_redis] == [
        (r.allowed, r.remaining) for r in on_memory
    ]
    assert sum(c for c, r in zip(SCENARIO_COSTS, on_memory, strict=True) if r.allowed) == 12
    for m, r in zip(on_memory, on_redis, strict=True):
        assert r.retry_after == pytest.approx(m.retry_after, abs=1)
        assert r.reset_after == pytest.approx(m.reset_after, abs=1)


# ---- memory, on an injected clock ---------------------------------------------------------------


async def test_memory_burst_then_one_per_interval() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    burst = [await limiter.hit("k", 5, 10) for _ in range(5)]
    assert [r.remaining for r in burst] == [4, 3, 2, 1, 0]
    assert all(r.allowed for r in burst)
    rejected = await limiter.hit("k", 5, 10)
    assert (rejected.allowed, rejected.retry_after, rejected.reset_after) == (False, 2.0, 10.0)
    clock.advance(2.0)
    assert (await limiter.hit("k", 5, 10)).allowed
    assert not (await limiter.hit("k", 5, 10)).allowed


async def test_memory_retry_after_is_exact() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(3):
        await limiter.hit("k", 3, 9)
    rejected = await limiter.hit("k", 3, 9)
    assert rejected.retry_after == 3.0
    clock.advance(rejected.retry_after - 0.001)
    again = await limiter.hit("k", 3, 9)
    assert not again.allowed
    assert again.retry_after == pytest.approx(0.001)
    clock.advance(again.retry_after)
    assert (await limiter.hit("k", 3, 9)).allowed


async def test_memory_limit_of_one_refills_after_the_period() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    assert (await limiter.hit("k", 1, 30)).allowed
    rejected = await limiter.hit("k", 1, 30)
    assert (rejected.allowed, rejected.remaining, rejected.retry_after) == (False, 0, 30.0)
    clock.advance(29.999999)
    assert not (await limiter.hit("k", 1, 30)).allowed
    clock.advance(0.000001)
    assert (await limiter.hit("k", 1, 30)).allowed


async def test_memory_refills_one_per_emission_interval() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(4):
        await limiter.hit("k", 4, 8)
    clock.advance(2.0)
    assert [(await limiter.hit("k", 4, 8)).allowed for _ in range(2)] == [True, False]
    clock.advance(8.0)
    full = [await limiter.hit("k", 4, 8) for _ in range(5)]
    assert [r.allowed for r in full] == [True, True, True, True, False]
    assert full[0].remaining == 3


async def test_memory_rounds_the_emission_interval_up() -> None:
    # 1 s / 3 is 333333.3 us; rounding up to 333334 us keeps the rate at or below 3 per second.
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    assert (await limiter.hit("k", 3, 1.0)).reset_after == 0.333334
    await limiter.hit("k", 3, 1.0, cost=2)
    clock.advance(1.0)
    assert (await limiter.hit("k", 3, 1.0, cost=0)).remaining == 2
    clock.advance(0.000002)
    assert (await limiter.hit("k", 3, 1.0, cost=0)).remaining == 3


async def test_memory_float_clock_with_decimal_steps() -> None:
    now = [1000.1]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    assert (await limiter.hit("k", 1, 0.29)).allowed
    rejected = await limiter.hit("k", 1, 0.29)
    now[0] += rejected.retry_after
    assert (await limiter.hit("k", 1, 0.29)).allowed


async def test_memory_drops_idle_buckets_and_stays_bounded() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_keys=3, sweep_interval_seconds=10)
    await limiter.hit("a", 1, 1)
    await limiter.hit("b", 1, 1)
    clock.advance(2)
    await limiter.hit("c", 1, 1)
    assert len(limiter) == 1  # a and b were full again, hence forgotten
    for key in ("d", "e", "f", "g"):
        await limiter.hit(key, 1, HOUR)
    assert len(limiter) == 3


async def test_memory_sweep_reaches_idle_buckets_behind_busy_ones() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, sweep_interval_seconds=10)
    await limiter.hit("busy", 1, HOUR)
    await limiter.hit("brief", 1, 1)
    clock.advance(2)
    # A read stores nothing and evicts nothing: "brief" is idle but waits behind "busy".
    await limiter.hit("other", 1, 1, cost=0)
    assert len(limiter) == 2
    clock.advance(10)
    await limiter.hit("other", 1, 1, cost=0)
    assert len(limiter) == 1


def test_memory_hit_never_suspends() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    assert run_now(limiter.hit("k", 2, 1)).allowed


# ---- properties (memory, fake clock) ------------------------------------------------------------

steps = st.lists(st.tuples(st.integers(0, 400_000), st.integers(0, 8)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(limit=st.integers(1, 8), period_s=st.sampled_from([0.3, 1.0, 1.7, 3.0]), steps=steps)
def test_property_admissions_never_exceed_gcra_bound(
    limit: int, period_s: float, steps: list[tuple[int, int]]
) -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    period_us = round(period_s * 1_000_000)
    admitted: list[tuple[int, int]] = []
    for advance_us, raw_cost in steps:
        clock.micros += advance_us
        cost = min(raw_cost, limit)
        result = run_now(limiter.hit("k", limit, period_s, cost))
        assert 0 <= result.remaining <= limit
        assert result.reset_after <= period_s + limit / 1_000_000
        if result.allowed and cost:
            admitted.append((clock.micros, cost))
        if not result.allowed:
            assert result.retry_after > 0
    for i, (start, _) in enumerate(admitted):
        total = 0
        for end, cost in admitted[i:]:
            total += cost
            assert total <= limit + Fraction(end - start) * limit / period_us


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(1, 8),
    period_s=st.sampled_from([0.3, 1.0, 1.7, 3.0]),
    steps=steps,
    final_cost=st.integers(1, 8),
)
def test_property_retry_after_is_exactly_the_wait(
    limit: int, period_s: float, steps: list[tuple[int, int]], final_cost: int
) -> None:
    cost = min(final_cost, limit)

    def replay() -> tuple[FakeClock, MemoryRateLimiter, RateLimitResult]:
        clock = FakeClock()
        limiter = MemoryRateLimiter(clock=clock)
        for advance_us, raw_cost in steps:
            clock.micros += advance_us
            run_now(limiter.hit("k", limit, period_s, min(raw_cost, limit)))
        return clock, limiter, run_now(limiter.hit("k", limit, period_s, cost))

    clock, limiter, result = replay()
    if result.allowed:
        # Once the bucket has had a whole period to refill, the full limit is admitted at once.
        clock.advance(period_s + limit / 1_000_000)
        assert run_now(limiter.hit("k", limit, period_s, limit)).allowed
        return
    early_clock, early_limiter, _ = replay()
    early_clock.advance(result.retry_after - 0.000001)
    assert not run_now(early_limiter.hit("k", limit, period_s, cost)).allowed
    clock.advance(result.retry_after)
    assert run_now(limiter.hit("k", limit, period_s, cost)).allowed


# ---- Redis only -------------------------------------------------------------------------------


async def test_redis_retry_after_is_never_short(redis_limiter: RedisRateLimiter) -> None:
    """Waiting a little less than told is still refused; waiting as told is admitted.

    Redis keeps its own clock, so the refusal is asserted only when the local timings prove that
    less than ``retry_after`` passed between the two scripts (which a busy machine may not give).
    """
    limit, period, margin = 2, 1.0, 0.2
    for _attempt in range(3):
        key = new_key()
        for _ in range(limit):
            await redis_limiter.hit(key, limit, period)
        sent_first = time.monotonic()
        rejected = await redis_limiter.hit(key, limit, period)
        answered_first = time.monotonic()
        assert not rejected.allowed
        assert 0 < rejected.retry_after <= period / limit
        await asyncio.sleep(
            max(0.0, answered_first + rejected.retry_after - margin - time.monotonic())
        )
        early = await redis_limiter.hit(key, limit, period)
        if time.monotonic() - sent_first < rejected.retry_after:
            assert not early.allowed
            answered_early = time.monotonic()
            await asyncio.sleep(max(0.0, answered_early + early.retry_after - time.monotonic()))
            assert (await redis_limiter.hit(key, limit, period)).allowed
            return
    pytest.skip("the machine was too slow to observe a wait shorter than retry_after")


async def test_redis_limit_of_one_with_short_period(redis_limiter: RedisRateLimiter) -> None:
    key = new_key()
    assert (await redis_limiter.hit(key, 1, 0.3)).allowed
    answered = time.monotonic()
    rejected = await redis_limiter.hit(key, 1, 0.3)
    assert not rejected.allowed
    assert 0 < rejected.retry_after <= 0.3
    await asyncio.sleep(max(0.0, answered + rejected.retry_after - time.monotonic()))
    assert (await redis_limiter.hit(key, 1, 0.3)).allowed


async def test_redis_keys_are_namespaced_and_expire_when_idle(
    redis_limiter: RedisRateLimiter, redis_client: Redis, redis_namespace: str
) -> None:
    key = new_key()
    await redis_limiter.hit(key, 2, 0.2, cost=0)
    assert await redis_client.exists(f"{redis_namespace}:rl:{key}") == 0
    result = await redis_limiter.hit(key, 2, 0.2)
    stored = redis_limiter.redis_key(key)
    assert stored == f"{redis_namespace}:rl:{key}"
    ttl_ms = await redis_client.pttl(stored)
    assert 0 < ttl_ms <= 100
    assert ttl_ms <= result.reset_after * 1000 + 1
    await asyncio.sleep(0.15)
    assert await redis_client.exists(stored) == 0


async def test_lua_script_falls_back_to_eval_when_not_cached(
    redis_url: str, redis_client: Redis
) -> None:
    # A script this server has never seen: EVALSHA answers NOSCRIPT, EVAL runs and caches it.
    script = LuaScript(f"-- {secrets.token_hex(8)}\nreturn tonumber(ARGV[1]) + 1")
    assert await redis_client.script_exists(script.sha) == [False]
    client = create_client(redis_url)
    try:
        assert await script.run(client, [], [41]) == 42
        assert await redis_client.script_exists(script.sha) == [True]
        assert await script.run(client, [], [1]) == 2
    finally:
        await client.aclose()


async def test_unreachable_redis_raises_service_unavailable() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1", namespace="unreachable")
    try:
        with pytest.raises(ServiceUnavailable) as failed:
            await limiter.ping()
        assert failed.value.code == "rate_limiter_unavailable"
        with pytest.raises(ServiceUnavailable):
            await limiter.hit("k", 1, 1)
        batch = await asyncio.gather(
            *(limiter.hit_all([Limit("a", 1, 1), Limit("b", 1, 1)]) for _ in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, ServiceUnavailable) for outcome in batch)
    finally:
        await limiter.close()


async def test_batches_share_round_trips_and_decide_each_request_in_order(
    redis_limiter: RedisRateLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_trips: list[int] = []
    real_send = redis_limiter._send

    def counted(link: Any, flight: Any) -> None:
        round_trips.append(len(flight.batch))
        real_send(link, flight)

    monkeypatch.setattr(redis_limiter, "_send", counted)
    tenant, key = new_key(), new_key()
    limits = [Limit(tenant, 150, HOUR), Limit(key, 100, HOUR)]
    results = await asyncio.gather(*(redis_limiter.hit_all(limits) for _ in range(120)))
    admitted = [pair for pair in results if pair[0].allowed and pair[1].allowed]
    assert len(admitted) == 100
    # in order: the n-th admitted request leaves the key's bucket with 100 - n
    assert [pair[1].remaining for pair in admitted] == list(range(99, -1, -1))
    assert all(not pair[1].allowed and pair[0].allowed for pair in results[100:])
    # requests that arrive while a batch is in flight wait for the next one
    assert len(round_trips) <= 3
    later = await asyncio.gather(*(redis_limiter.hit_all(limits) for _ in range(2)))
    # refused by the key, so the tenant was not charged for them
    assert [(pair[0].remaining, pair[1].allowed) for pair in later] == [(49, False), (49, False)]


async def test_one_batch_decides_and_stores_as_the_same_requests_one_by_one(
    redis_limiter: RedisRateLimiter, redis_client: Redis
) -> None:
    # Shared and separate buckets, costs 0 (a read), 1 and 3, refusals by either bucket: the
    # script reads each bucket once and writes it once, which must change nothing.
    def requests(a: str, b: str, c: str) -> list[tuple[list[Limit], int]]:
        both = [Limit(a, 5, HOUR), Limit(b, 4, HOUR)]
        return [
            (both, 1),
            ([Limit(c, 3, HOUR)], 3),
            (both, 3),
            (both, 0),
            ([Limit(b, 4, HOUR)], 1),
            (both, 1),
            ([Limit(c, 3, HOUR)], 1),
            (both, 1),
            ([Limit(a, 5, HOUR), Limit(c, 3, HOUR)], 0),
        ]

    batched_keys, sequential_keys = [new_key() for _ in "abc"], [new_key() for _ in "abc"]
    batched = await asyncio.gather(
        *(redis_limiter.hit_all(limits, cost) for limits, cost in requests(*batched_keys))
    )
    sequential = [
        await redis_limiter.hit_all(limits, cost) for limits, cost in requests(*sequential_keys)
    ]
    # the same requests in memory, where no time passes between them
    memory = MemoryRateLimiter(clock=FakeClock())
    expected = [run_now(memory.hit_all(limits, cost)) for limits, cost in requests(*"abc")]

    def decisions(rounds: list[list[RateLimitResult]]) -> list[list[tuple[bool, int]]]:
        return [[(result.allowed, result.remaining) for result in results] for results in rounds]

    assert decisions(batched) == decisions(sequential) == decisions(expected)
    refused = [results for results in expected if not all(r.allowed for r in results)]
    assert len(refused) >= 2 and any(any(r.allowed for r in results) for results in refused)
    for batched_key, sequential_key in zip(batched_keys, sequential_keys, strict=True):
        stored = [
            int(await redis_client.get(redis_limiter.redis_key(key)) or 0)
            for key in (batched_key, sequential_key)
        ]
        ttls = [
            await redis_client.pttl(redis_limiter.redis_key(key))
            for key in (batched_key, sequential_key)
        ]
        # the TATs were set a few milliseconds apart; each key expires when its bucket is full
        assert stored[0] > 0 and abs(stored[0] - stored[1]) < 2_000_000
        assert abs(ttls[0] - ttls[1]) < 2_000 and ttls[0] > 0


async def test_a_batch_survives_a_dropped_connection(
    redis_limiter: RedisRateLimiter, redis_client: Redis
) -> None:
    key = new_key()
    first = await redis_limiter.hit_all([Limit(key, 10, HOUR)])
    link = redis_limiter._link
    assert link is not None
    host, port = link.transport.get_extra_info("sockname")[:2]
    assert await redis_client.client_kill(f"{host}:{port}")
    second = await redis_limiter.hit_all([Limit(key, 10, HOUR)])
    assert (first[0].remaining, second[0].remaining) == (9, 8)
    assert redis_limiter._link is not None and redis_limiter._link is not link
    # the connection that dropped is closed on the limiter's side too
    assert link.transport.is_closing() and not link.connection.is_connected


PausableLimiter = Callable[
    [float], contextlib.AbstractAsyncContextManager[tuple[RedisRateLimiter, str]]
]


@pytest.fixture
def pausable(redis_url: str, redis_namespace: str, redis_client: Redis) -> PausableLimiter:
    """``pausable(timeout)``: a limiter with that socket timeout which has answered once on the
    key yielded with it; Redis is unpaused on leaving, whatever the test paused."""

    @contextlib.asynccontextmanager
    async def limiter_with(timeout_seconds: float) -> AsyncIterator[tuple[RedisRateLimiter, str]]:
        client = create_client(redis_url, socket_timeout_seconds=timeout_seconds)
        limiter = RedisRateLimiter(client, namespace=redis_namespace)
        try:
            key = new_key()
            await limiter.hit_all([Limit(key, 10, HOUR)])
            yield limiter, key
        finally:
            await redis_client.execute_command("CLIENT", "UNPAUSE")
            await limiter.close()

    return limiter_with


async def test_a_batch_redis_does_not_answer_in_time_fails_and_the_next_goes_through(
    pausable: PausableLimiter, redis_client: Redis
) -> None:
    async with pausable(0.2) as (limiter, key):
        stalled = limiter._link
        # Redis holds every write (a script that writes is one) for longer than the timeout.
        await redis_client.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
        with pytest.raises(ServiceUnavailable) as failed:
            await limiter.hit_all([Limit(key, 10, HOUR)])
        assert failed.value.code == "rate_limiter_unavailable"
        assert "in time" in str(failed.value)
        await redis_client.execute_command("CLIENT", "UNPAUSE")
        # The late reply lands on the dropped connection, not on the next batch.
        after = await limiter.hit_all([Limit(key, 10, HOUR)])
        assert stalled is not None and limiter._link is not stalled
        # The timed-out batch may or may not have been applied by Redis once it resumed.
        assert after[0].allowed and after[0].remaining in (7, 8)


async def test_a_batch_after_a_long_idle_gets_one_more_try_when_it_times_out(
    pausable: PausableLimiter, redis_client: Redis
) -> None:
    async with pausable(0.5) as (limiter, key):
        idle = limiter._link
        assert idle is not None
        idle.last_reply -= 60  # as if nothing had come back for a minute
        # Redis holds writes past the first try's timeout but not the second's.
        await redis_client.execute_command("CLIENT", "PAUSE", "750", "WRITE")
        (result,) = await limiter.hit_all([Limit(key, 10, HOUR)])
        assert result.allowed and limiter._link is not idle
        # the first try ran too once Redis resumed: charged twice, as the docstring warns
        assert result.remaining in (7, 8)


async def test_a_batch_reloads_its_script_when_redis_lost_it(
    redis_limiter: RedisRateLimiter, redis_client: Redis
) -> None:
    # A script this server has never seen stands for one lost in a restart or SCRIPT FLUSH.
    unknown = LuaScript(redis_limiter._script_batch.source + f"\n-- {secrets.token_hex(8)}")
    redis_limiter._script_batch = unknown
    assert await redis_client.script_exists(unknown.sha) == [False]
    results = await redis_limiter.hit_all([Limit(new_key(), 3, HOUR), Limit(new_key(), 2, HOUR)])
    assert [(r.allowed, r.remaining) for r in results] == [(True, 2), (True, 1)]
    assert await redis_client.script_exists(unknown.sha) == [True]


async def test_close_releases_the_batch_connection(redis_url: str, redis_namespace: str) -> None:
    limiter = RedisRateLimiter.from_url(redis_url, namespace=redis_namespace)
    await limiter.hit_all([Limit(new_key(), 1, HOUR)])
    link = limiter._link
    assert link is not None and link.connection.is_connected
    await limiter.close()
    assert not link.connection.is_connected and link.transport.is_closing()
    with pytest.raises(ServiceUnavailable):
        await limiter.hit_all([Limit(new_key(), 1, HOUR)])


# ---- headers ----------------------------------------------------------------------------------


def test_headers_when_admitted() -> None:
    result = RateLimitResult(
        allowed=True, limit=60, remaining=41, retry_after=0.0, reset_after=18.2
    )
    assert rate_limit_headers(result, 60) == {
        "RateLimit-Limit": "60",
        "RateLimit-Remaining": "41",
        "RateLimit-Reset": "19",
        "RateLimit-Policy": "60;w=60",
    }


def test_headers_when_rejected_round_up() -> None:
    result = RateLimitResult(
        allowed=False, limit=5, remaining=0, retry_after=2.000001, reset_after=10.0
    )
    headers = rate_limit_headers(result, 10)
    assert headers["Retry-After"] == "3"
    assert headers["RateLimit-Reset"] == "10"
    assert headers["RateLimit-Remaining"] == "0"


def test_headers_retry_after_is_at_least_one_second() -> None:
    result = RateLimitResult(allowed=False, limit=2, remaining=0, retry_after=0.05, reset_after=0.3)
    headers = rate_limit_headers(result, 0.5)
    assert headers["Retry-After"] == "1"
    assert headers["RateLimit-Policy"] == "2;w=1"
    assert headers["RateLimit-Reset"] == "1"


async def test_headers_from_a_real_rejection() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(3):
        await limiter.hit("k", 3, 90)
    headers = rate_limit_headers(await limiter.hit("k", 3, 90), 90)
    assert headers == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "90",
        "RateLimit-Policy": "3;w=90",
        "Retry-After": "30",
    }


@pytest.mark.parametrize(
    ("result", "period"),
    [
        (RateLimitResult(True, 60, 41, 0.0, 18.2), 60),
        (RateLimitResult(True, 100_000, -3, 0.0, 0.0), 60),
        (RateLimitResult(False, 5, 0, 2.000001, 10.0), 10),
        (RateLimitResult(False, 2, 0, 0.05, 0.3), 0.5),
    ],
)
def test_header_fields_are_the_headers_as_asgi_fields(
    result: RateLimitResult, period: float
) -> None:
    expected = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in rate_limit_headers(result, period).items()
    ]
    assert rate_limit_header_fields(result, period) == expected


# ---- several buckets at once (tenant + API key) ------------------------------------------------
async def test_hit_all_is_all_or_nothing(limiter: RateLimiter) -> None:
    tenant, key = new_key(), new_key()
    # the key's own limit (2) is tighter than the tenant's (5)
    limits = [Limit(tenant, 5, 3600), Limit(key, 2, 3600)]
    first = await limiter.hit_all(limits)
    second = await limiter.hit_all(limits)
    third = await limiter.hit_all(limits)
    assert [r.allowed for r in first] == [True, True]
    assert [r.allowed for r in second] == [True, True]
    assert [r.allowed for r in third] == [True, False]
    # the refused request charged neither bucket: the tenant still has 3 of 5
    tenant_state = await limiter.hit(tenant, 5, 3600, cost=0)
    assert tenant_state.remaining == 3


async def test_hit_all_concurrent_admits_exactly_the_tighter_limit(limiter: RateLimiter) -> None:
    tenant, key = new_key(), new_key()
    limits = [Limit(tenant, 50, 3600), Limit(key, 20, 3600)]
    results = await asyncio.gather(*(limiter.hit_all(limits) for _ in range(200)))
    admitted = sum(all(r.allowed for r in result) for result in results)
    assert admitted == 20
    assert (await limiter.hit(tenant, 50, 3600, cost=0)).remaining == 30
