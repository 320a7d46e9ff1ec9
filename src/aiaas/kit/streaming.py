"""A streamed HTTP response that costs one task, and ends with its last chunk.

Starlette's ``StreamingResponse`` (for servers speaking ASGI below 2.4, uvicorn included) runs the
stream in a task group beside a listener for the client's disconnect, and ends every stream with
an empty message of its own. :class:`EventStream` streams in the request's own task with the
listener as its one extra task, which cancels the stream when the client goes away, and sends a
:class:`LastChunk` together with the end of the response (one write instead of two).
"""

from __future__ import annotations

import asyncio

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class LastChunk(bytes):
    """The final bytes of a stream: sent with the end of the response."""


class EventStream(StreamingResponse):
    """A ``StreamingResponse`` streamed in the request's task, cancelled when the client leaves.

    The body iterator sees a disconnect as ``CancelledError`` at the point it is waiting, as with
    Starlette's own response; the background task runs after the stream in either case.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the body; stop (quietly) when the client disconnects."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        streaming = asyncio.current_task()
        assert streaming is not None
        state = {"streaming": True, "left": False}

        async def watch_for_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if state["streaming"]:
                state["left"] = True
                streaming.cancel()

        watcher = asyncio.create_task(watch_for_disconnect())
        try:
            await self._stream(send)
        except asyncio.CancelledError:
            if not state["left"]:
                raise
            streaming.uncancel()  # the client left: the request ends here, not in an error
        finally:
            state["streaming"] = False
            watcher.cancel()
        if self.background is not None:
            await self.background()

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self.body_iterator:
                data = (
                    chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
                )
                if isinstance(chunk, LastChunk):
                    await send({"type": "http.response.body", "body": data, "more_body": False})
                    return
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # Closed here, not whenever it is collected: its own clean-up runs now, in order.
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
