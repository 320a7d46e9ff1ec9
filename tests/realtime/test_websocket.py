"""``WS /ws/chat`` end to end on a real server: order, limits, resume, isolation, auth."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.chat.engines import ScriptedEngine
from tests.chat.helpers import new_conversation
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.realtime.support import receive_until, serve, socket


async def test_a_turn_arrives_complete_and_in_order(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    async with serve(env.app) as base, socket(base, tenant.api_key) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["tenant_id"] == tenant.id
        await ws.send(json.dumps({"type": "message", "end_user_id": "u1", "content": "a b c"}))
        frames = await receive_until(ws, "message.done")
    kinds = [f["type"] for f in frames]
    assert kinds[:3] == ["replayed", "conversation", "message"]
    assert frames[2]["message"]["role"] == "customer"
    tokens = [f for f in frames if f["type"] == "token"]
    assert "".join(t["delta"] for t in tokens).strip() == "echo: a b c"
    assert kinds[-2:] == ["message", "message.done"]
    assert frames[-2]["message"]["content"] == "echo: a b c"
    assert kinds.index("message", 3) > max(i for i, k in enumerate(kinds) if k == "token")


async def test_oversized_frame_closes_1009(env: Stack) -> None:
    tenant = await make_tenant(env)
    limit = env.settings.chat.ws_max_message_bytes
    async with serve(env.app) as base, socket(base, tenant.api_key) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "x" * (limit + 10)}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_resume_replays_exactly_the_missed_events(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    url = f"/api/v1/chat/conversations/{conversation}/messages"
    first = await env.client.post(url, headers=tenant.key_auth, json={"content": "one"})
    last_seen = first.json()["replies"][0]["id"]
    await env.client.post(url, headers=tenant.key_auth, json={"content": "two"})
    await env.client.post(url, headers=tenant.key_auth, json={"content": "three"})
    async with (
        serve(env.app) as base,
        socket(base, tenant.api_key, conversation_id=conversation, last_event_id=last_seen) as ws,
    ):
        frames = await receive_until(ws, "replayed")
    replayed = [f["message"]["content"] for f in frames if f["type"] == "message"]
    assert replayed == ["two", "echo: two", "three", "echo: three"]
    assert frames[-1]["count"] == 4


async def test_other_tenants_conversations_are_invisible(
    env: Stack, engine: ScriptedEngine
) -> None:
    owner = await make_tenant(env)
    intruder = await make_tenant(env)
    conversation = await new_conversation(env, owner)
    async with serve(env.app) as base:
        async with socket(base, intruder.api_key, conversation_id=conversation) as ws:
            error = json.loads(await ws.recv())
            assert error == {
                "type": "error",
                "code": "conversation_not_found",
                "detail": "no such conversation",
            }
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with socket(base, intruder.api_key) as ws:
            await ws.recv()
            await ws.send(
                json.dumps({"type": "message", "conversation_id": conversation, "content": "hi"})
            )
            frames = await receive_until(ws, "error")
            assert frames[-1]["code"] == "conversation_not_found"
    assert engine.calls == []


async def test_unauthenticated_sockets_are_refused(env: Stack) -> None:
    async with serve(env.app) as base:
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            async with socket(base, "ak_not_a_key") as ws:
                await ws.recv()


async def test_agent_reply_reaches_the_customer_live(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/handoff", headers=tenant.key_auth
    )
    async with (
        serve(env.app) as base,
        socket(base, tenant.api_key, conversation_id=conversation) as ws,
    ):
        await receive_until(ws, "replayed")
        inbox = f"/api/v1/chat/inbox/{conversation}"
        await env.client.post(f"{inbox}/claim", headers=tenant.auth)
        joined = await receive_until(ws, "agent.joined")
        assert joined[-1]["message"]["kind"] == "agent_joined"
        await env.client.post(
            f"{inbox}/reply", headers=tenant.auth, json={"content": "Hi, Sam here"}
        )
        frames = await receive_until(ws, "message")
        assert frames[-1]["message"]["role"] == "agent"
        assert frames[-1]["message"]["content"] == "Hi, Sam here"


async def test_widget_visitor_chats_with_a_session_token(
    env: Stack, engine: ScriptedEngine
) -> None:
    tenant = await make_tenant(env)
    await env.client.put(
        "/api/v1/chat/channels", headers=tenant.auth, json={"allowed_origins": ["*"]}
    )
    key = (await env.client.get("/api/v1/chat/channels", headers=tenant.auth)).json()["widget_key"]
    tokens = []
    for visitor in ("v1", "v2"):
        made = await env.client.post(
            "/api/v1/chat/widget/sessions", json={"widget_key": key, "end_user_id": visitor}
        )
        tokens.append(made.json()["token"])
    async with serve(env.app) as base:
        async with connect(f"{base}/ws/chat?token={tokens[0]}") as ws:
            hello = json.loads(await ws.recv())
            assert hello["role"] == "customer" and hello["tenant_id"] == tenant.id
            await ws.send(json.dumps({"type": "message", "content": "hi there"}))
            frames = await receive_until(ws, "message.done")
            conversation = frames[1]["conversation_id"]
            assert frames[-2]["message"]["content"] == "echo: hi there"
        async with connect(
            f"{base}/ws/chat?token={tokens[1]}&conversation_id={conversation}"
        ) as ws:
            error = json.loads(await ws.recv())
            assert error["code"] == "conversation_not_found"
    listed = await env.client.get(
        "/api/v1/chat/conversations", headers=tenant.auth, params={"end_user_id": "v1"}
    )
    assert listed.json()["items"][0]["channel"] == "widget"
