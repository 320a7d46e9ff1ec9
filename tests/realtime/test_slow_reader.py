"""A client that stops reading, on a real socket: closed with 1013, the others unaffected."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket as pysocket

import pytest

from aiaas.realtime.protocol import conversation_topic
from tests.chat.helpers import new_conversation
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.realtime.support import receive_until, serve, socket

FRAMES = 400
PAD = "x" * 32_000


async def _stalled_client(base: str, token: str, conversation: str) -> asyncio.StreamWriter:
    """Open the WebSocket by hand, read the 101, then never read again (tiny receive buffer)."""
    host, port = base.removeprefix("ws://").split(":")
    raw = pysocket.socket()
    raw.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=raw)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/chat?conversation_id={conversation} HTTP/1.1\r\nHost: {host}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    assert b"101" in await reader.readuntil(b"\r\n\r\n")
    return writer


async def test_a_reader_that_never_reads_is_closed_and_others_get_everything(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    hub = env.platform.chat.hub
    topic = conversation_topic(tenant.id, conversation)
    async with (
        serve(env.app) as base,
        socket(base, tenant.api_key, conversation_id=conversation) as healthy,
    ):
        await receive_until(healthy, "replayed")
        # only the stalled socket gets a small queue, so the test stays quick
        monkeypatch.setattr(env.settings.chat, "ws_send_queue", 16)
        stalled_writer = await _stalled_client(base, tenant.api_key, conversation)
        for _ in range(100):
            if hub.listeners(topic) == 2:
                break
            await asyncio.sleep(0.02)
        assert hub.listeners(topic) == 2
        [stalled] = [c for c in hub.connections if c.max_queue == 16]
        received: list[str] = []

        async def read_all() -> None:
            while len(received) < FRAMES:
                frame = json.loads(await healthy.recv())
                if frame["type"] == "message":
                    received.append(frame["id"])

        reading = asyncio.create_task(read_all())
        peak = 0
        for n in range(FRAMES):
            await hub.publish(topic, {"type": "message", "id": f"{n:05d}", "pad": PAD})
            peak = max(peak, stalled.queued)
            await asyncio.sleep(0.001)
        await asyncio.wait_for(reading, 30)
        assert received == [f"{n:05d}" for n in range(FRAMES)]
        assert stalled.close_code == 1013
        assert peak <= 2 * 16
        stalled_writer.close()
