"""EventStream: chunks in order, the last one with the end, a client that leaves cancels the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.background import BackgroundTask

from aiaas.kit.streaming import EventStream, LastChunk

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "GET"}


class Client:
    """The server side of one HTTP exchange: what was sent, and a disconnect on demand."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.left = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def bodies(self) -> list[tuple[bytes, bool]]:
        return [(m["body"], m["more_body"]) for m in self.sent if m["type"] == "http.response.body"]


async def test_chunks_in_order_and_the_last_one_ends_the_response() -> None:
    closed: list[str] = []
    ran: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
            yield LastChunk(b"end")
            yield b"never sent"
        finally:
            closed.append("closed")

    async def background() -> None:
        ran.append("background")

    client = Client()
    response = EventStream(body(), background=BackgroundTask(background))
    await response(SCOPE, client.receive, client.send)
    assert client.sent[0]["type"] == "http.response.start"
    assert client.bodies() == [(b"a", True), (b"b", True), (b"end", False)]
    assert closed == ["closed"] and ran == ["background"]


async def test_without_a_last_chunk_an_empty_message_ends_the_response() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"only"

    client = Client()
    await EventStream(body())(SCOPE, client.receive, client.send)
    assert client.bodies() == [(b"only", True), (b"", False)]


async def test_a_client_that_leaves_cancels_the_stream_and_the_request_ends_quietly() -> None:
    seen: list[str] = []
    ran: list[str] = []
    client = Client()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            client.left.set()
            await asyncio.sleep(10)  # an upstream that takes its time
            yield b"never"
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def background() -> None:
        ran.append("background")

    response = EventStream(body(), background=BackgroundTask(background))
    await asyncio.wait_for(response(SCOPE, client.receive, client.send), 5)
    assert seen == ["cancelled"] and ran == ["background"]
    assert client.bodies() == [(b"first", True)]
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_a_failing_stream_raises() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("upstream broke")

    client = Client()
    with pytest.raises(RuntimeError, match="upstream broke"):
        await EventStream(body())(SCOPE, client.receive, client.send)
    assert client.bodies() == [(b"partial", True)]


async def test_a_cancelled_request_stays_cancelled() -> None:
    started = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        started.set()
        await asyncio.sleep(10)
        yield b"never"

    client = Client()
    task = asyncio.create_task(EventStream(body())(SCOPE, client.receive, client.send))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
