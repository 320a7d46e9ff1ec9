"""A small real HTTP/1.1 server on 127.0.0.1 whose answers are scripted per path: the far end of
a customer's HTTP tool, with every request it received recorded."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Script = Callable[[Received], Reply]


@dataclass
class ToolServer:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[Reply] | Script] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]

    def reply(self, request: Received) -> Reply:
        script = self.scripts.get(request.path.split("?")[0])
        if script is None:
            return Reply(404, {"error": "no such path"})
        if callable(script):
            return script(request)
        index = self._counts[request.path]
        self._counts[request.path] += 1
        return script[min(index, len(script) - 1)]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                size = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(size) if size else b""
                request = Received(method, path, headers, json.loads(raw) if raw else None)
                self.received.append(request)
                reply = self.reply(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                payload = json.dumps(reply.body).encode()
                head = [f"HTTP/1.1 {reply.status} X", "content-type: application/json",
                        f"content-length: {len(payload)}"]  # fmt: skip
                head += [f"{k}: {v}" for k, v in reply.headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def tool_server() -> AsyncIterator[ToolServer]:
    server = ToolServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()
