"""Choose the bus from settings: NATS JetStream when ``nats_url`` is set, else in-process."""

from __future__ import annotations

from aiaas.backends.bus import Bus
from aiaas.config import Settings


def build_bus(settings: Settings) -> Bus:
    """A bus for these settings, not started yet (call ``await bus.start()``)."""
    if settings.nats_url:
        from aiaas.backends.bus.nats import NatsBus  # nats-py is only needed in production

        return NatsBus(
            settings.nats_url, stream=settings.events.stream, namespace=settings.namespace
        )
    from aiaas.backends.bus.memory import MemoryBus

    return MemoryBus()
