"""Resilience primitives: retry with jitter (honouring ``Retry-After``), circuit breaker, bulkhead,
deadlines.

Domain-free and dependency-free, so any adapter to the outside (LLM providers, HTTP tools) composes
them:

* :func:`retry_async` runs an operation until it succeeds, a non-retryable error occurs, the
  attempts run out or the :class:`Deadline` would be passed; server-suggested delays
  (``Retry-After``) are honoured.
* :class:`CircuitBreaker` stops calling a dependency that keeps failing, then lets one probe
  through.
* :class:`Bulkhead` caps concurrent calls and the queue in front of them.
* :class:`Deadline` is an absolute time budget shared by several attempts.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TypeVar

from aiaas.kit.clock import utcnow
from aiaas.kit.errors import AppError

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class CircuitOpenError(AppError):
    """The breaker is open: the dependency is not called until the recovery time has passed."""

    status, code, title = 503, "circuit_open", "Dependency temporarily unavailable"


class BulkheadFullError(AppError):
    """Too many calls are already running or waiting for this dependency."""

    status, code, title = 503, "bulkhead_full", "Too many concurrent calls"


class DeadlineExceededError(AppError):
    """The overall time budget of an operation ran out."""

    status, code, title = 504, "deadline_exceeded", "Deadline exceeded"


# ---- deadlines --------------------------------------------------------------------------------


class Deadline:
    """An absolute point in (monotonic) time by which an operation must finish."""

    def __init__(self, seconds: float | None, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._at = None if seconds is None else clock() + max(0.0, seconds)

    @property
    def unbounded(self) -> bool:
        """True when there is no deadline."""
        return self._at is None

    def remaining(self) -> float:
        """Seconds left (``math.inf`` when unbounded, never negative)."""
        if self._at is None:
            return math.inf
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        """True once no time is left."""
        return self.remaining() <= 0.0

    def timeout(self, per_attempt: float | None = None) -> float | None:
        """The timeout for one attempt: the smaller of ``per_attempt`` and what is left (``None``:
        none)."""
        left = self.remaining()
        if per_attempt is None:
            return None if math.isinf(left) else left
        return min(per_attempt, left)


async def with_timeout(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await ``awaitable`` for at most ``seconds`` (``None``: no limit); raises ``TimeoutError``."""
    async with asyncio.timeout(seconds):
        return await awaitable


# ---- retry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``max_attempts`` counts the first try (1 means no retry). Backoff before retry ``n`` (1-based)
    is drawn uniformly from ``[0, min(max_backoff, initial_backoff * multiplier ** (n - 1))]``
    ("full jitter"), so many clients recovering at once do not retry in lock-step. A
    server-suggested delay replaces the draw when it is longer, unless it exceeds
    ``max_retry_after``: then waiting is pointless and the error is raised at once.
    """

    max_attempts: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    multiplier: float = 2.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be non-negative and the multiplier at least 1")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """The jittered delay before retry number ``retry_number`` (1 for the first retry)."""
        ceiling = min(
            self.max_backoff, self.initial_backoff * self.multiplier ** max(0, retry_number - 1)
        )
        return (rng or _RNG).uniform(0.0, ceiling)


# Jitter needs no cryptographic randomness.
_RNG = random.Random()  # noqa: S311  # nosec B311


@dataclass
class RetryState:
    """What a retry loop did, for logs, metrics and tests."""

    attempts: int = 0
    delays: list[float] = field(default_factory=list)


async def retry_async(
    operation: Callable[[int], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retryable: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] | None = None,
    deadline: Deadline | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    state: RetryState | None = None,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
) -> T:
    """Run ``operation(attempt)`` (attempt starts at 1) until it returns, retrying retryable errors.

    The last error is re-raised unchanged when it is not retryable, when ``policy.max_attempts`` is
    reached, when the server asks for a wait longer than ``policy.max_retry_after`` or when the wait
    would pass the deadline. ``asyncio.CancelledError`` is never retried.
    """
    state = state if state is not None else RetryState()
    deadline = deadline or Deadline(None)
    attempt = 0
    while True:
        attempt += 1
        state.attempts = attempt
        try:
            return await operation(attempt)
        except Exception as exc:
            if attempt >= policy.max_attempts or not retryable(exc):
                raise
            delay = policy.backoff(attempt, rng)
            suggested = retry_after(exc) if retry_after else None
            if suggested is not None:
                if suggested > policy.max_retry_after:
                    raise
                delay = max(delay, suggested)
            if delay >= deadline.remaining():
                raise
            state.delays.append(delay)
            if on_retry:
                on_retry(exc, attempt, delay)
            await sleep(delay)


def parse_retry_after(value: str | None, *, now: Callable[[], float] | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if
    absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        current = now() if now else utcnow().timestamp()
        seconds = when.timestamp() - current
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# ---- circuit breaker --------------------------------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failures; opens after ``failure_threshold`` of them.

    While open, :meth:`allow` is false until ``recovery_seconds`` have passed; then the breaker is
    half-open and lets ``half_open_max_calls`` probe calls through. A probe success closes it, a
    probe failure opens it again for another recovery period.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_seconds: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or recovery_seconds < 0:
            raise ValueError("invalid circuit breaker settings")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose recovery time has passed reports half-open."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.recovery_seconds
        ):
            self._state = BreakerState.HALF_OPEN
            self._probes = 0
        return self._state

    def allow(self) -> bool:
        """Whether a call may go through now (reserves a probe slot when half-open)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes < self.half_open_max_calls:
            self._probes += 1
            return True
        return False

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.recovery_seconds - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        """A call succeeded: close the breaker and forget past failures."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probes = 0

    def record_failure(self) -> None:
        """A call failed in a way that says the dependency is unhealthy."""
        if self.state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0
        self._probes = 0

    def check(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go through now."""
        if not self.allow():
            raise CircuitOpenError(
                f"{self.name} is unavailable (circuit open)",
                headers={"Retry-After": str(max(1, math.ceil(self.retry_in())))},
            )


class BreakerRegistry:
    """One :class:`CircuitBreaker` per key (e.g. ``(provider, model)``), created on first use."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        recovery_seconds: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._settings = (failure_threshold, recovery_seconds)
        self._clock = clock
        self._breakers: dict[tuple[str, ...], CircuitBreaker] = {}

    def get(self, *key: str) -> CircuitBreaker:
        """The breaker for ``key``."""
        breaker = self._breakers.get(key)
        if breaker is None:
            threshold, recovery = self._settings
            breaker = CircuitBreaker(
                "/".join(key),
                failure_threshold=threshold,
                recovery_seconds=recovery,
                clock=self._clock,
            )
            self._breakers[key] = breaker
        return breaker


# ---- bulkhead ---------------------------------------------------------------------------------


class Bulkhead:
    """At most ``max_concurrent`` calls run at once and at most ``max_waiting`` wait for a slot.

    A call beyond both limits, or one that waits longer than ``max_wait_seconds``, raises
    :class:`BulkheadFullError` instead of piling up behind a slow dependency.
    """

    def __init__(
        self,
        name: str,
        *,
        max_concurrent: int,
        max_waiting: int = 0,
        max_wait_seconds: float | None = None,
    ) -> None:
        if max_concurrent < 1 or max_waiting < 0:
            raise ValueError("invalid bulkhead settings")
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self.max_wait_seconds = max_wait_seconds
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        """Calls holding a slot now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Calls queued for a slot now."""
        return self._waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        if self._semaphore.locked():
            if self._waiting >= self.max_waiting:
                raise BulkheadFullError(
                    f"{self.name}: {self.max_concurrent} calls running, queue full"
                )
            self._waiting += 1
            try:
                async with asyncio.timeout(self.max_wait_seconds):
                    await self._semaphore.acquire()
            except TimeoutError:
                raise BulkheadFullError(
                    f"{self.name}: no slot within {self.max_wait_seconds}s"
                ) from None
            finally:
                self._waiting -= 1
        else:
            await self._semaphore.acquire()
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._semaphore.release()
