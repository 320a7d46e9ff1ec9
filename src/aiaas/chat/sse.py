"""Server-sent events of a customer turn (``Accept: text/event-stream``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiaas.kit.errors import AppError

SSE_MEDIA_TYPE = "text/event-stream"
_DETACHED: set[asyncio.Task[None]] = set()


def wants_sse(accept: str | None) -> bool:
    return bool(accept) and SSE_MEDIA_TYPE in (accept or "")


def encode(event_id: int, event: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {payload}\n\n".encode()


async def turn_events(
    first: dict[str, Any] | None, frames: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    """``token`` deltas, a ``message`` per stored reply, then ``done`` with the turn; ``error`` if
    the turn fails midway. Ids count up from 1 so a client sees a gap at once."""
    counter = 0

    async def render(frame: dict[str, Any]) -> AsyncIterator[bytes]:
        nonlocal counter
        if frame["type"] == "turn":
            result = frame["result"]
            for reply in result.get("replies", []):
                counter += 1
                yield encode(counter, "message", reply)
            counter += 1
            yield encode(counter, "done", result)
        else:
            counter += 1
            yield encode(counter, frame["type"], frame)

    try:
        if first is not None:
            async for chunk in render(first):
                yield chunk
        async for frame in frames:
            async for chunk in render(frame):
                yield chunk
    except AppError as exc:
        counter += 1
        yield encode(counter, "error", {"code": exc.code, "detail": exc.detail})


def detach(frames: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The same frames, produced by a task of their own: a reader that goes away mid-turn does not
    cancel the turn, whose answer is stored (history, resume) and published all the same."""
    queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for frame in frames:
                queue.put_nowait(frame)
        except Exception as exc:  # handed to the reader, which renders it as an SSE error
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(pump())
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)

    async def read() -> AsyncIterator[dict[str, Any]]:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    return read()
