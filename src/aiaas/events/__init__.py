"""Events: envelope and catalog, transactional outbox, relay, idempotent consumers, audit log.

Start-up: build the bus, start the ``ConsumerRunner``, then run the ``OutboxRelay``.
"""

from __future__ import annotations

import aiaas.events.foundation_types  # noqa: F401  (registers the foundation's event types)
from aiaas.events.catalog import EventType, catalog, event, get_event_type, register_event
from aiaas.events.envelope import EventActor, EventEnvelope, EventSubject
from aiaas.events.outbox import (
    insert_events,
    outbox_row,
    outbox_signal,
    record_event,
    set_outbox_namespace,
)

__all__ = [
    "EventActor",
    "EventEnvelope",
    "EventSubject",
    "EventType",
    "catalog",
    "event",
    "get_event_type",
    "insert_events",
    "outbox_row",
    "outbox_signal",
    "record_event",
    "register_event",
    "set_outbox_namespace",
]
