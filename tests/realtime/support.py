"""A real uvicorn server around a test app, and a small WebSocket client helper."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` (lifespan already running) on a free port; yields ``ws://host:port``."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def socket(base: str, token: str, **params: str) -> AsyncIterator[ClientConnection]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"{base}/ws/chat" + (f"?{query}" if query else "")
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        yield ws


async def receive_until(
    ws: ClientConnection, kind: str, seconds: float = 10.0
) -> list[dict[str, Any]]:
    """Frames up to and including the first of type ``kind`` (pings skipped)."""
    frames = []
    async with asyncio.timeout(seconds):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("ping", "pong", "presence", "typing"):
                continue
            frames.append(frame)
            if frame["type"] == kind:
                return frames
