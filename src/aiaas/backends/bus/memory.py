"""In-process bus for embedded mode: durable consumers, at-least-once delivery, dead letters.

Each durable consumer owns a FIFO queue and one worker task; a message published to a subject goes
to every durable whose filter matches, including durables whose subscription is stopped for now
(they find it when they subscribe again). A failed delivery is re-queued after its delay by a loop
timer (no task per message); after ``max_deliver`` failed deliveries, or at once on ``Reject``, the
dead-letter handler runs and the message is settled.

Nothing survives ``close()`` or a crash. That is why ``publish`` reports settlement through
``on_settled``: the publisher (the outbox relay) keeps its copy until every matching durable has
acknowledged or dead-lettered the message, so a crash loses nothing that was not yet handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from aiaas.backends.bus import (
    BusUnavailable,
    DeadLetterHandler,
    Delivery,
    Handler,
    Reject,
    Retry,
    SettledCallback,
    subject_matches,
)
from aiaas.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEAD_LETTER_RETRY_SECONDS = 1.0
"""Delay before trying again when the dead-letter handler itself failed."""


@dataclass
class _Settlement:
    """Counts the durables that still have to settle one message, then runs the callbacks."""

    remaining: int
    callbacks: list[SettledCallback] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.remaining <= 0

    def add_callback(self, callback: SettledCallback) -> None:
        if self.done:
            _run_callback(callback)
        else:
            self.callbacks.append(callback)

    def settle_one(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            callbacks, self.callbacks = self.callbacks, []
            for callback in callbacks:
                _run_callback(callback)


def _run_callback(callback: SettledCallback) -> None:
    try:
        callback()
    except Exception:
        log.exception("bus settlement callback failed")


@dataclass
class _Message:
    subject: str
    data: bytes
    msg_id: str
    headers: dict[str, str]
    settlement: _Settlement
    deliveries: int = 0


class _Durable:
    """One durable consumer: its queue survives stop/subscribe within the bus's lifetime."""

    def __init__(self, name: str, subject_filter: str) -> None:
        self.name = name
        self.subject_filter = subject_filter
        self.queue: deque[_Message] = deque()
        self.delayed: dict[int, tuple[asyncio.TimerHandle, _Message]] = {}
        self.in_flight: _Message | None = None
        self.ready = asyncio.Event()
        self.worker: asyncio.Task[None] | None = None
        self.handler: Handler | None = None
        self.on_dead_letter: DeadLetterHandler | None = None
        self.max_deliver = 1
        self.ack_wait = 30.0

    def enqueue(self, message: _Message) -> None:
        self.queue.append(message)
        self.ready.set()

    def enqueue_later(self, message: _Message, delay: float) -> None:
        if delay <= 0:
            self.enqueue(message)
            return
        key = id(message)

        def fire() -> None:
            self.delayed.pop(key, None)
            self.enqueue(message)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self.delayed[key] = (handle, message)

    def pending(self) -> int:
        return len(self.queue) + len(self.delayed) + (1 if self.in_flight is not None else 0)

    async def run(self) -> None:
        while True:
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            message = self.queue.popleft()
            self.in_flight = message
            try:
                await self._deliver(message)
            except asyncio.CancelledError:
                # Stopped mid-delivery: the message was not acknowledged, keep it first in line.
                message.deliveries -= 1
                self.queue.appendleft(message)
                raise
            finally:
                self.in_flight = None

    async def _deliver(self, message: _Message) -> None:
        assert self.handler is not None
        message.deliveries += 1
        delivery = Delivery(
            subject=message.subject,
            data=message.data,
            msg_id=message.msg_id,
            attempt=message.deliveries,
            headers=dict(message.headers),
        )
        try:
            async with asyncio.timeout(self.ack_wait):
                await self.handler(delivery)
        except Reject as exc:
            await self._dead_letter(message, delivery, exc)
        except Exception as exc:
            if message.deliveries >= self.max_deliver:
                await self._dead_letter(message, delivery, exc)
            else:
                self.enqueue_later(message, exc.delay if isinstance(exc, Retry) else 0.0)
        else:
            message.settlement.settle_one()

    async def _dead_letter(
        self, message: _Message, delivery: Delivery, error: BaseException
    ) -> None:
        assert self.on_dead_letter is not None
        try:
            await self.on_dead_letter(delivery, error)
        except Exception:
            log.exception("dead-letter handler of %s failed; retrying the message later", self.name)
            self.enqueue_later(message, DEAD_LETTER_RETRY_SECONDS)
        else:
            message.settlement.settle_one()

    async def detach(self) -> None:
        """Stop the worker; queued and delayed messages stay for the next subscriber."""
        worker, self.worker = self.worker, None
        await cancel_and_wait(worker)
        for handle, message in self.delayed.values():
            handle.cancel()
            self.queue.append(message)
        self.delayed.clear()
        self.handler = None
        self.on_dead_letter = None


class MemorySubscription:
    def __init__(self, durable: _Durable) -> None:
        self._durable = durable

    async def stop(self) -> None:
        await self._durable.detach()

    async def pending(self) -> int:
        return self._durable.pending()


class MemoryBus:
    """An at-least-once, in-process bus with the same contract as the JetStream one."""

    kind = "memory"

    def __init__(self, *, dedupe_window_seconds: float = 120.0) -> None:
        self._dedupe_window = dedupe_window_seconds
        self._durables: dict[str, _Durable] = {}
        self._recent: OrderedDict[str, tuple[float, _Settlement]] = OrderedDict()
        self._closed = False

    async def start(self) -> None:
        """Nothing to connect to; the bus is usable once constructed."""
        self._closed = False

    async def close(self) -> None:
        """Stop every consumer and drop every message (like a crash; publishers keep copies)."""
        self._closed = True
        for durable in self._durables.values():
            await durable.detach()
        self._durables.clear()
        self._recent.clear()

    async def ping(self) -> None:
        """Raise ``BusUnavailable`` once the bus is closed."""
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        msg_id: str,
        headers: dict[str, str] | None = None,
        on_settled: SettledCallback | None = None,
    ) -> None:
        """Queue for every matching durable; a ``msg_id`` seen within the window is dropped."""
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")
        now = time.monotonic()
        self._forget_older_than(now - self._dedupe_window)
        seen = self._recent.get(msg_id)
        if seen is not None:
            if on_settled is not None:
                seen[1].add_callback(on_settled)
            return
        targets = [d for d in self._durables.values() if subject_matches(d.subject_filter, subject)]
        settlement = _Settlement(remaining=len(targets))
        self._recent[msg_id] = (now, settlement)
        if on_settled is not None:
            settlement.add_callback(on_settled)
        for durable in targets:
            durable.enqueue(_Message(subject, data, msg_id, dict(headers or {}), settlement))

    def _forget_older_than(self, cutoff: float) -> None:
        while self._recent:
            msg_id, (seen_at, _) = next(iter(self._recent.items()))
            if seen_at >= cutoff:
                break
            del self._recent[msg_id]

    async def subscribe(
        self,
        durable: str,
        subject_filter: str,
        handler: Handler,
        *,
        max_deliver: int,
        ack_wait: float,
        on_dead_letter: DeadLetterHandler,
    ) -> MemorySubscription:
        """Attach (or re-attach) the durable consumer ``durable`` and start delivering to it."""
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")
        state = self._durables.get(durable)
        if state is None:
            state = self._durables[durable] = _Durable(durable, subject_filter)
        elif state.worker is not None:
            raise ValueError(f"durable consumer {durable!r} already has a subscriber")
        state.subject_filter = subject_filter
        state.handler = handler
        state.on_dead_letter = on_dead_letter
        state.max_deliver = max(1, max_deliver)
        state.ack_wait = ack_wait
        state.worker = asyncio.create_task(state.run(), name=f"bus-consumer-{durable}")
        return MemorySubscription(state)
