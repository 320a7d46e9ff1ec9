"""Two app instances on real Redis: an agent on replica A reaches a customer on replica B."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from aiaas.app import create_app
from aiaas.platform import build_platform
from tests.chat.engines import ScriptedEngine
from tests.chat.helpers import new_conversation
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.realtime.support import receive_until, serve, socket


@pytest.fixture
async def replica_b(env: Stack, engine: ScriptedEngine) -> AsyncIterator[FastAPI]:
    if env.platform.chat.hub.fanout.kind != "redis":
        pytest.skip("cross-replica fan-out needs the Redis stack")
    platform = build_platform(env.settings)
    await platform.start(events=False)
    platform.chat.use(engine=engine)
    app = create_app(env.settings, platform=platform)
    try:
        async with LifespanManager(app):
            yield app
    finally:
        await platform.stop()


async def test_agent_reply_crosses_replicas(
    env: Stack, engine: ScriptedEngine, replica_b: FastAPI
) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    handoff = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "a human please"},
    )
    assert handoff.json()["status"] == "waiting_for_human"
    async with (
        serve(replica_b) as base_b,
        socket(base_b, tenant.api_key, conversation_id=conversation) as customer,
    ):
        await receive_until(customer, "replayed")
        inbox = f"/api/v1/chat/inbox/{conversation}"
        assert (await env.client.post(f"{inbox}/claim", headers=tenant.auth)).status_code == 200
        await receive_until(customer, "agent.joined")
        sent = await env.client.post(
            f"{inbox}/reply", headers=tenant.auth, json={"content": "Hello from replica A"}
        )
        assert sent.status_code == 201
        frames = await receive_until(customer, "message")
        assert frames[-1]["message"]["content"] == "Hello from replica A"
        assert frames[-1]["id"] == sent.json()["id"]
        # and the customer's words on B reach an agent watching on A
        async with (
            serve(env.app) as base_a,
            socket(base_a, tenant.token, conversation_id=conversation) as agent,
        ):
            await receive_until(agent, "replayed")
            await customer.send(
                json.dumps(
                    {"type": "message", "conversation_id": conversation, "content": "thanks!"}
                )
            )
            seen = await receive_until(agent, "message")
            assert seen[-1]["message"]["content"] == "thanks!"
            assert seen[-1]["message"]["role"] == "customer"
