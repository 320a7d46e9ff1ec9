"""Cross-replica fan-out of realtime frames: Redis pub/sub in production, in-process otherwise.

Every replica subscribes to the namespace's pattern and delivers what it receives to its own
connections; a publisher never delivers locally by itself, so each frame reaches each connection
exactly once whether the listener sits on this replica or another.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiaas.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Deliver = Callable[[str, dict[str, Any]], None]


class Fanout(Protocol):
    kind: str

    async def start(self, deliver: Deliver) -> None: ...

    async def publish(self, topic: str, frame: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class MemoryFanout:
    """One process: publishing is delivering."""

    kind = "memory"

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, topic: str, frame: dict[str, Any]) -> None:
        if self._deliver is not None:
            self._deliver(topic, frame)

    async def close(self) -> None:
        self._deliver = None


class RedisFanout:
    """Redis pub/sub on ``<namespace>:rt:<topic>``; one pattern subscription per replica."""

    kind = "redis"

    def __init__(self, url: str, namespace: str) -> None:
        self.url = url
        self.prefix = f"{namespace}:rt:"
        self._redis: Any = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self, deliver: Deliver) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self.url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await self._pubsub.psubscribe(self.prefix + "*")
            subscribed = True
        except Exception:  # Redis down at start: the listener keeps trying; readiness reports it
            log.warning("realtime fan-out cannot reach Redis yet", exc_info=True)
            subscribed = False
        self._task = asyncio.create_task(self._listen(deliver, subscribed), name="realtime-fanout")

    async def _listen(self, deliver: Deliver, subscribed: bool) -> None:
        cut = len(self.prefix)
        while True:
            try:
                if not subscribed:
                    await self._pubsub.psubscribe(self.prefix + "*")
                    subscribed = True
                async for message in self._pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"]
                    topic = (channel.decode() if isinstance(channel, bytes) else channel)[cut:]
                    try:
                        deliver(topic, json.loads(message["data"]))
                    except Exception:
                        log.exception("realtime delivery failed for %s", topic)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("realtime fan-out lost Redis; resubscribing", exc_info=True)
                subscribed = False
                await asyncio.sleep(1.0)

    async def publish(self, topic: str, frame: dict[str, Any]) -> None:
        await self._redis.publish(self.prefix + topic, json.dumps(frame, separators=(",", ":")))

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()


def build_fanout(redis_url: str | None, namespace: str) -> Fanout:
    """Redis when the platform has it, else in-process."""
    return RedisFanout(redis_url, namespace) if redis_url else MemoryFanout()
