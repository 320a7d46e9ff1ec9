"""The send-queue policy: coalescing, dropping non-essential frames, closing slow consumers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiaas.realtime.connection import Connection
from aiaas.realtime.fanout import MemoryFanout
from aiaas.realtime.hub import Hub


class Socket:
    """Records what is written; ``stalled`` never completes a write (a reader that never reads)."""

    def __init__(self, stalled: bool = False) -> None:
        self.stalled = stalled
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if self.stalled:
            await self._never.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code


def _connection(socket: Socket, max_queue: int = 8, slow_after: float = 60.0) -> Connection:
    return Connection(
        socket.send_text,
        socket.close,
        max_queue=max_queue,
        slow_after=slow_after,
        tenant_id="t",
        identity=str(id(socket)),
    )


async def test_token_deltas_of_one_stream_are_coalesced() -> None:
    socket = Socket()
    connection = _connection(socket)
    for word in ("a", "b", "c"):
        connection.offer({"type": "token", "stream": "s1", "delta": word})
    connection.offer({"type": "token", "stream": "s2", "delta": "x"})
    assert connection.queued == 2 and connection.coalesced == 2
    connection.start()
    await asyncio.sleep(0.01)
    assert [f["delta"] for f in socket.sent] == ["abc", "x"]
    await connection.stop()


async def test_non_essential_frames_are_dropped_first() -> None:
    connection = _connection(Socket(stalled=True), max_queue=4)
    connection.offer({"type": "typing"})
    connection.offer({"type": "presence"})
    for n in range(2):
        connection.offer({"type": "message", "id": str(n)})
    assert connection.offer({"type": "message", "id": "2"})
    assert connection.dropped == 2 and connection.queued == 3
    connection.offer({"type": "message", "id": "3"})
    assert not connection.offer({"type": "typing"})
    assert connection.dropped == 3 and connection.close_code is None


async def test_a_stalled_reader_is_closed_1013_with_bounded_memory() -> None:
    hub = Hub(MemoryFanout())
    await hub.start()
    stalled, healthy = Socket(stalled=True), Socket()
    slow, fast = _connection(stalled), _connection(healthy)
    for connection in (slow, fast):
        hub.register(connection)
        hub.subscribe(connection, "topic")
        connection.start()
    peak = 0
    for n in range(100):
        await hub.publish("topic", {"type": "message", "id": str(n)})
        peak = max(peak, slow.queued)
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert slow.close_code == 1013 and stalled.closed_with == 1013
    assert peak <= 2 * slow.max_queue
    assert [f["id"] for f in healthy.sent] == [str(n) for n in range(100)]
    assert fast.close_code is None
    for connection in (slow, fast):
        hub.unregister(connection)
    await hub.close()


async def test_a_queue_over_its_bound_too_long_is_closed() -> None:
    connection = _connection(Socket(stalled=True), max_queue=2, slow_after=0.05)
    for n in range(3):
        connection.offer({"type": "message", "id": str(n)})
    assert connection.close_code is None
    await asyncio.sleep(0.06)
    connection.offer({"type": "message", "id": "late"})
    assert connection.close_code == 1013


async def test_replayed_frames_go_first_without_duplicates() -> None:
    socket = Socket()
    connection = _connection(socket)
    connection.offer({"type": "message", "id": "3"})
    connection.offer({"type": "token", "stream": "s", "delta": "x"})
    connection.prepend([{"type": "message", "id": "2"}, {"type": "message", "id": "3"}])
    connection.start()
    await asyncio.sleep(0.01)
    assert [(f["type"], f.get("id")) for f in socket.sent] == [
        ("message", "2"),
        ("message", "3"),
        ("token", None),
    ]
    await connection.stop()
