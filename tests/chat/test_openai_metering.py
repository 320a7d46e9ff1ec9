"""What the OpenAI-compatible surface stores per request: the router's decision and the usage, written
together (and with concurrent requests' writes, by group commit) before the response completes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import openai
import pytest
from sqlalchemy import text

from aiaas.backends.llm.types import ChatRequest, ChatResult, LLMUnavailable, StreamDelta
from aiaas.chat import events as ev
from aiaas.chat.runtime import GroupCommit
from aiaas.events.outbox import record_event
from aiaas.kit.context import bind_context
from tests.conftest import Stack
from tests.factories import make_tenant


def _client(env: Stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=key,
        base_url="http://testserver/v1",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app)),
        max_retries=0,
    )


async def _events(env: Stack, type_: str) -> list[dict[str, Any]]:
    async with env.owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM outbox_events WHERE type = :t"), {"t": type_}
        )
        return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


async def _decision_ids(env: Stack) -> set[str]:
    async with env.owner_engine.connect() as conn:
        rows = await conn.execute(text("SELECT id FROM router_decisions"))
        return {str(UUID(str(r[0]))) for r in rows}


async def test_concurrent_completions_store_each_decision_with_its_usage(env: Stack) -> None:
    tenant = await make_tenant(env)
    client = _client(env, tenant.api_key)

    async def one(n: int) -> str:
        completion = await client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": f"Where is my order {n}?"}],
            stream=n % 2 == 1,
            extra_headers={"X-Request-ID": f"req-{n}"},
        )
        if n % 2 == 1:
            async for _ in completion:  # type: ignore[union-attr]
                pass
        return f"req-{n}"

    requests = set(await asyncio.gather(*(one(n) for n in range(16))))
    usage = await _events(env, "chat.completion.created")
    decisions = await _events(env, "router.decision.made")
    assert len(usage) == 16 and len(decisions) == 16
    # Each request's events carry its own request id, and its usage names its own decision.
    by_request = {e["request_id"]: e["payload"]["decision_id"] for e in usage}
    assert set(by_request) == requests
    assert {e["request_id"]: e["payload"]["decision_id"] for e in decisions} == by_request
    assert set(by_request.values()) == await _decision_ids(env)
    assert sorted(e["payload"]["stream"] for e in usage) == [False] * 8 + [True] * 8


class _Down:
    """A model provider that is unavailable (the chain exhausted)."""

    async def complete(self, request: ChatRequest) -> ChatResult:
        raise LLMUnavailable("every model failed")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        raise LLMUnavailable("every model failed")
        yield  # an async generator, as providers are


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failed_model_call_still_records_the_decision(env: Stack, stream: bool) -> None:
    tenant = await make_tenant(env)
    chat = env.platform.chat
    previous = chat.llm
    chat.llm = _Down()  # type: ignore[assignment]
    try:
        with pytest.raises(openai.APIStatusError) as raised:
            await _client(env, tenant.api_key).chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "refund please"}], stream=stream
            )
    finally:
        chat.llm = previous
    assert raised.value.status_code == 503
    [decision] = await _events(env, "router.decision.made")
    assert await _decision_ids(env) == {decision["payload"]["decision_id"]}
    assert await _events(env, "chat.completion.created") == []


async def test_group_commit_fails_only_the_failing_write(env: Stack) -> None:
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    writes = GroupCommit(env.platform.db)

    def usage(n: int) -> Any:
        async def work(session: Any) -> None:
            if n == 3:
                raise ValueError("a bad write")
            await record_event(
                session,
                "chat.completion.created",
                ev.CompletionCreated(
                    completion_id=f"c-{n}",
                    model="m",
                    decision_id=None,
                    stream=False,
                    input_tokens=1,
                    output_tokens=1,
                    cost_micros=0,
                    latency_ms=1,
                ),
                subject_type="completion",
                subject_id=f"c-{n}",
            )

        return work

    async def call(n: int) -> None:
        bind_context(request_id=f"r-{n}")  # each gathered call is its own task
        await writes.write(tenant_id, usage(n))

    results = await asyncio.gather(*(call(n) for n in range(8)), return_exceptions=True)
    assert [type(r) for r in results] == [type(None)] * 3 + [ValueError] + [type(None)] * 4
    stored = await _events(env, "chat.completion.created")
    assert sorted(e["payload"]["completion_id"] for e in stored) == [
        f"c-{n}" for n in range(8) if n != 3
    ]
    assert all(e["request_id"] == "r-" + e["payload"]["completion_id"][2:] for e in stored)
