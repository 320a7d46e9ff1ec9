"""Message bus: NATS JetStream in production, an in-process bus in embedded mode.

Both deliver at least once to durable consumers, redeliver on failure up to ``max_deliver``
times and expose consumer lag. Subjects look like ``<namespace>.<event type>``.

A handler acknowledges by returning, asks for a redelivery by raising (``Retry`` chooses the
delay; any other exception redelivers at once), and sends a message straight to its dead-letter
handler by raising ``Reject`` (it can never succeed, e.g. it cannot be decoded). After the last
allowed delivery the dead-letter handler runs and the message is settled, so a poison message
never blocks the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiaas.kit.errors import ServiceUnavailable


@dataclass
class Delivery:
    """One delivery of a message to a consumer."""

    subject: str
    data: bytes
    msg_id: str
    attempt: int
    headers: dict[str, str] = field(default_factory=dict)


class Retry(Exception):
    """Raised by a handler to ask for redelivery after ``delay`` seconds (chain the cause)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(f"retry in {delay}s")
        self.delay = delay


class Reject(Exception):
    """Raised by a handler when a message can never be handled: it is dead-lettered at once."""


class BusUnavailable(ServiceUnavailable):
    """The bus did not accept a message (not connected, closed, or no acknowledgement in time)."""

    code = "bus_unavailable"
    title = "Message bus unavailable"


Handler = Callable[[Delivery], Awaitable[None]]
"""Returns normally to acknowledge; raises to ask for redelivery (bounded by ``max_deliver``)."""

DeadLetterHandler = Callable[[Delivery, BaseException], Awaitable[None]]
"""Runs after the last failed delivery (or a ``Reject``); if it raises, the message comes back."""

SettledCallback = Callable[[], None]
"""Called once the bus no longer needs the publisher's copy of a message."""


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
        """Raise ``BusUnavailable`` when the bus is unreachable."""
        ...

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        msg_id: str,
        headers: dict[str, str] | None = None,
        on_settled: SettledCallback | None = None,
    ) -> None:
        """Publish durably. Re-publishing a ``msg_id`` must not deliver twice (dedupe window).

        ``on_settled`` runs once the publisher's copy may be dropped: for NATS as soon as JetStream
        stored the message (before ``publish`` returns); for the in-process bus, which keeps nothing
        across a crash, only when every durable consumer that matched has acknowledged or
        dead-lettered it. Raises ``BusUnavailable`` when the message was not accepted.
        """
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


def subject_matches(subject_filter: str, subject: str) -> bool:
    """NATS subject matching: ``*`` matches one token, a final ``>`` one or more tokens."""
    pattern = subject_filter.split(".")
    tokens = subject.split(".")
    for index, part in enumerate(pattern):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or (part != "*" and part != tokens[index]):
            return False
    return len(tokens) == len(pattern)
