"""The hub: which connection listens to which topic, and publishing frames to them."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from aiaas.realtime.connection import Connection, encode
from aiaas.realtime.fanout import Fanout
from aiaas.realtime.metrics import PUBLISH_FAILURES, WS_CONNECTIONS

log = logging.getLogger(__name__)


class Hub:
    """Registry of this replica's connections; frames travel through the fan-out to every replica."""

    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        self._topics: dict[str, set[Connection]] = defaultdict(set)
        self.connections: set[Connection] = set()
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self.fanout.start(self.deliver_local)
            self._started = True

    async def close(self) -> None:
        for connection in list(self.connections):
            await connection.stop()
        if self._started:
            await self.fanout.close()
            self._started = False

    def register(self, connection: Connection) -> None:
        self.connections.add(connection)
        WS_CONNECTIONS.set(len(self.connections))

    def subscribe(self, connection: Connection, topic: str) -> None:
        connection.topics.add(topic)
        self._topics[topic].add(connection)

    def unregister(self, connection: Connection) -> None:
        for topic in connection.topics:
            listeners = self._topics.get(topic)
            if listeners is not None:
                listeners.discard(connection)
                if not listeners:
                    del self._topics[topic]
        connection.topics.clear()
        self.connections.discard(connection)
        WS_CONNECTIONS.set(len(self.connections))

    async def publish(self, topic: str, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every connection on ``topic``, on every replica.

        Never fails the caller: what was published is already stored, and a client that missed it
        (fan-out unreachable) gets it by resuming from its last event id."""
        try:
            await self.fanout.publish(topic, frame)
        except Exception:
            PUBLISH_FAILURES.inc()
            log.warning("realtime publish to %s failed", topic, exc_info=True)

    def deliver_local(self, topic: str, frame: dict[str, Any]) -> None:
        listeners = self._topics.get(topic)
        if not listeners:
            return
        text = encode(frame)  # once for every listener of a broadcast
        origin = frame.get("origin")
        for connection in tuple(listeners):
            if origin is not None and origin == connection.identity:
                continue
            connection.offer(frame, text)

    def listeners(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))
