"""Conversations over REST and SSE: answers, storage of usage, idempotent sends, history, feedback."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.chat.engines import ScriptedEngine
from tests.chat.helpers import new_conversation, parse_sse
from tests.conftest import Stack
from tests.factories import make_tenant


async def test_send_answers_as_json_and_stores_usage(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant, metadata={"plan": "gold"})
    sent = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "where is my order"},
    )
    assert sent.status_code == 200, sent.text
    turn = sent.json()
    assert turn["status"] == "open"
    assert turn["message"]["role"] == "customer"
    [reply] = turn["replies"]
    assert reply["content"] == "echo: where is my order"
    assert reply["citations"] == [{"index": 1, "title": "FAQ"}]
    assert (reply["input_tokens"], reply["output_tokens"], reply["cost_micros"]) == (11, 7, 42)
    assert reply["model"] == "gpt-4o-mini" and reply["latency_ms"] is not None
    assert turn["usage"] == {"input_tokens": 11, "output_tokens": 7, "cost_micros": 42}
    history = await env.client.get(
        f"/api/v1/chat/conversations/{conversation}/messages", headers=tenant.auth
    )
    assert [m["role"] for m in history.json()["items"]] == ["assistant", "customer"]
    async with env.owner_engine.connect() as conn:
        types = [
            r[0]
            for r in await conn.execute(
                text("SELECT type FROM outbox_events WHERE type LIKE 'chat.%' ORDER BY id")
            )
        ]
    assert types == [
        "chat.conversation.created",
        "chat.message.created",
        "chat.message.created",
        "chat.turn.completed",
    ]


async def test_sse_stream_is_complete_and_in_order(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    response = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers={**tenant.key_auth, "Accept": "text/event-stream"},
        json={"content": "one two three"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [i for i, _, _ in events] == list(range(1, len(events) + 1))
    kinds = [kind for _, kind, _ in events]
    assert kinds == ["token"] * 4 + ["message", "done"]
    streamed = "".join(data["delta"] for _, kind, data in events if kind == "token")
    assert streamed.strip() == "echo: one two three"
    assert events[-2][2]["content"] == "echo: one two three"
    assert events[-1][2]["replies"][0]["id"] == events[-2][2]["id"]


async def test_idempotent_send_answers_once(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    url = f"/api/v1/chat/conversations/{conversation}/messages"
    headers = {**tenant.key_auth, "Idempotency-Key": "send-1"}
    first = await env.client.post(url, headers=headers, json={"content": "hello"})
    again = await env.client.post(url, headers=headers, json={"content": "hello"})
    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["replies"][0]["id"] == first.json()["replies"][0]["id"]
    assert engine.calls == ["hello"]
    other = await env.client.post(url, headers=headers, json={"content": "something else"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    history = await env.client.get(url, headers=tenant.auth)
    assert len(history.json()["items"]) == 2


async def test_concurrent_retries_run_the_turn_once(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    url = f"/api/v1/chat/conversations/{conversation}/messages"
    headers = {**tenant.key_auth, "Idempotency-Key": "send-race"}
    results = await asyncio.gather(
        *(env.client.post(url, headers=headers, json={"content": "hi"}) for _ in range(3))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    assert engine.calls == ["hi"]


async def test_failed_turn_releases_the_key(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    url = f"/api/v1/chat/conversations/{conversation}/messages"
    headers = {**tenant.key_auth, "Idempotency-Key": "retry-me"}
    engine.fail_with = RuntimeError("model down")
    failed = await env.client.post(url, headers=headers, json={"content": "hi"})
    assert failed.status_code == 502 and failed.json()["code"] == "turn_failed"
    engine.fail_with = None
    retried = await env.client.post(url, headers=headers, json={"content": "hi"})
    assert retried.status_code == 200 and retried.json()["replayed"] is False


async def test_history_pages_with_a_cursor(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    url = f"/api/v1/chat/conversations/{conversation}/messages"
    for n in range(3):
        await env.client.post(url, headers=tenant.key_auth, json={"content": f"m{n}"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await env.client.get(url, headers=tenant.auth, params=params)).json()
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["echo: m2", "m2", "echo: m1", "m1", "echo: m0", "m0"]


async def test_feedback_emits_the_router_reward_event(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    turn = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers=tenant.key_auth,
        json={"content": "hi"},
    )
    reply_id = turn.json()["replies"][0]["id"]
    given = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/feedback",
        headers=tenant.key_auth,
        json={"message_id": reply_id, "thumbs": 1, "csat": 5, "resolved": True},
    )
    assert given.status_code == 201, given.text
    empty = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/feedback", headers=tenant.key_auth, json={}
    )
    assert empty.status_code == 422
    bad = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/feedback",
        headers=tenant.key_auth,
        json={"csat": 6},
    )
    assert bad.status_code == 422
    async with env.owner_engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT envelope FROM outbox_events WHERE type = 'chat.feedback.received'")
            )
        ).one()
    envelope = row[0] if isinstance(row[0], dict) else __import__("json").loads(row[0])
    assert envelope["payload"]["csat"] == 5 and envelope["payload"]["thumbs"] == 1


async def test_closed_conversation_refuses_messages(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    conversation = await new_conversation(env, tenant)
    closed = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/close", headers=tenant.key_auth
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    refused = await env.client.post(
        f"/api/v1/chat/conversations/{conversation}/messages",
        headers={**tenant.key_auth, "Accept": "text/event-stream"},
        json={"content": "hello?"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "conversation_closed"
