"""Message bus: NATS JetStream in production, an in-process bus in embedded mode.

Both deliver at least once to durable consumers, redeliver on failure up to ``max_deliver`` times and
expose consumer lag. Subjects look like ``<namespace>.<event type>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Delivery:
    """One delivery of a message to a consumer."""

    subject: str
    data: bytes
    msg_id: str
    attempt: int
    headers: dict[str, str] = field(default_factory=dict)


class Retry(Exception):
    """Raised by a handler to ask for redelivery after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(f"retry in {delay}s")
        self.delay = delay


Handler = Callable[[Delivery], Awaitable[None]]
"""Returns normally to acknowledge; raises to ask for redelivery (bounded by ``max_deliver``)."""

DeadLetterHandler = Callable[[Delivery, BaseException], Awaitable[None]]


class Subscription(Protocol):
    async def stop(self) -> None: ...

    async def pending(self) -> int:
        """Messages not yet acknowledged by this durable consumer (consumer lag)."""
        ...


class Bus(Protocol):
    """Publish/subscribe with durable, at-least-once consumers."""

    kind: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise when the bus is unreachable."""
        ...

    async def publish(self, subject: str, data: bytes, *, msg_id: str, headers: dict[str, str] | None = None) -> None:
        """Publish durably. Re-publishing the same ``msg_id`` must not deliver twice (dedupe window)."""
        ...

    async def subscribe(
        self,
        durable: str,
        subject_filter: str,
        handler: Handler,
        *,
        max_deliver: int,
        ack_wait: float,
        on_dead_letter: DeadLetterHandler,
    ) -> Subscription:
        """Attach a durable consumer; ``on_dead_letter`` runs after the last failed delivery."""
        ...
