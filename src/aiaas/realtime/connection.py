"""One client connection's send side: a bounded queue with the backpressure policy.

Policy, applied when a frame is offered (never blocking the publisher):

1. a ``token`` delta for the stream the last queued frame belongs to is merged into it;
2. when the queue is full, queued non-essential frames (typing, presence) are dropped first, and a
   new non-essential frame is dropped rather than queued;
3. essential frames may exceed the bound by the same amount again (a burst); past that hard limit,
   or when the queue stayed over its bound for ``slow_after`` seconds, the connection is closed
   with 1013 (try again later): the client reconnects and resumes from its last event id.

So a reader that never reads costs at most ``2 * max_queue`` frames before it is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiaas.realtime.metrics import (
    WS_CLOSED,
    WS_FRAMES_DROPPED,
    WS_FRAMES_SENT,
    WS_TOKENS_COALESCED,
)
from aiaas.realtime.protocol import CLOSE_TRY_AGAIN_LATER, TOKEN, is_essential

log = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


class Connection:
    """Queue and writer of one WebSocket; ``offer`` is synchronous and never waits."""

    def __init__(
        self,
        send_text: SendText,
        close: Close,
        *,
        max_queue: int,
        slow_after: float,
        tenant_id: str,
        identity: str,
    ) -> None:
        self._send_text = send_text
        self._close = close
        self.max_queue = max_queue
        self.slow_after = slow_after
        self.tenant_id = tenant_id
        self.identity = identity
        self.topics: set[str] = set()
        # (frame, its JSON text when already encoded once for every listener of a broadcast)
        self._queue: deque[tuple[dict[str, Any], str | None]] = deque()
        self._ready = asyncio.Event()
        self._over_since: float | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.dropped = 0
        self.coalesced = 0

    # ---- publisher side -------------------------------------------------------------------------
    def offer(self, frame: dict[str, Any], text: str | None = None) -> bool:
        """Queue ``frame`` (``text``: its JSON, when already encoded) under the policy; ``False``
        when it was dropped or the connection closed."""
        if self.close_code is not None:
            return False
        if frame.get("type") == TOKEN and self._queue:
            last = self._queue[-1][0]
            if last.get("type") == TOKEN and last.get("stream") == frame.get("stream"):
                merged = {**last, "delta": str(last["delta"]) + str(frame["delta"])}
                self._queue[-1] = (merged, None)
                self.coalesced += 1
                WS_TOKENS_COALESCED.inc()
                return True
        if len(self._queue) >= self.max_queue:
            self._drop_non_essential()
            if not is_essential(frame):
                self._count_drop(frame)
                return False
            now = time.monotonic()
            if self._over_since is None:
                self._over_since = now
            too_long = now - self._over_since >= self.slow_after
            if len(self._queue) >= 2 * self.max_queue or too_long:
                self.shut(CLOSE_TRY_AGAIN_LATER, "consumer too slow")
                return False
        else:
            self._over_since = None
        self._queue.append((frame, text))
        self._ready.set()
        return True

    def prepend(self, frames: list[dict[str, Any]]) -> None:
        """Put replayed frames before anything queued, dropping queued duplicates (by ``id``)."""
        ids = {f.get("id") for f in frames if f.get("id")}
        kept = [q for q in self._queue if not (q[0].get("id") and q[0].get("id") in ids)]
        self._queue = deque([*((f, None) for f in frames), *kept])
        if self._queue:
            self._ready.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _drop_non_essential(self) -> None:
        if all(is_essential(f) for f, _ in self._queue):
            return
        kept: deque[tuple[dict[str, Any], str | None]] = deque()
        for queued in self._queue:
            if is_essential(queued[0]):
                kept.append(queued)
            else:
                self._count_drop(queued[0])
        self._queue = kept

    def _count_drop(self, frame: dict[str, Any]) -> None:
        self.dropped += 1
        WS_FRAMES_DROPPED.labels(str(frame.get("type"))).inc()

    # ---- writer side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.identity}")

    async def _write(self) -> None:
        try:
            while self.close_code is None:
                await self._ready.wait()
                while self._queue and self.close_code is None:
                    frame, text = self._queue.popleft()
                    await self._send_text(text or encode(frame))
                    WS_FRAMES_SENT.inc()
                    if len(self._queue) < self.max_queue:
                        self._over_since = None
                self._ready.clear()
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away: the reader side notices and unregisters
            self.close_code = self.close_code or 1006
            self.closed.set()

    def shut(self, code: int, reason: str) -> None:
        """Close from the server side without waiting: the writer stops, the socket gets ``code``."""
        if self.close_code is not None:
            return
        self.close_code = code
        WS_CLOSED.labels(str(code)).inc()
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
        self._ready.set()
        self.closed.set()
        self._closing = asyncio.ensure_future(self._close_quietly(code, reason))

    async def _close_quietly(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(2.0):
                await self._close(code, reason)
        except Exception:
            log.debug("close of a websocket did not complete", exc_info=True)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._closing is not None:
            await asyncio.gather(self._closing, return_exceptions=True)
