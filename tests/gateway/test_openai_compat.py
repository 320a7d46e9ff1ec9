"""The OpenAI-compatible surface, driven by the official ``openai`` client."""

from __future__ import annotations

import httpx
import openai
import pytest
from sqlalchemy import text

from tests.conftest import Stack
from tests.factories import make_tenant


def _client(env: Stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=key,
        base_url="http://testserver/v1",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app)),
        max_retries=0,
    )


async def _metered(env: Stack) -> list[dict[str, object]]:
    import json

    async with env.owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM outbox_events WHERE type = 'chat.completion.created'")
        )
        return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


async def test_models_lists_auto_and_the_catalog(env: Stack) -> None:
    tenant = await make_tenant(env)
    models = await _client(env, tenant.api_key).models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "auto" and "local-extractive" in ids


async def test_non_streaming_completion(env: Stack) -> None:
    tenant = await make_tenant(env)
    completion = await _client(env, tenant.api_key).chat.completions.create(
        model="local-extractive",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the return window?"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    [metered] = await _metered(env)
    payload = metered["payload"]
    assert isinstance(payload, dict) and payload["stream"] is False
    assert payload["input_tokens"] == completion.usage.prompt_tokens


async def test_streaming_completion_matches_the_wire_format(env: Stack) -> None:
    tenant = await make_tenant(env)
    stream = await _client(env, tenant.api_key).chat.completions.create(
        model="local-extractive",
        messages=[{"role": "user", "content": "How do I reset my password?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text_ = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text_
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert len({c.id for c in chunks}) == 1
    [metered] = await _metered(env)
    assert metered["payload"]["stream"] is True  # type: ignore[index]


async def test_auto_goes_through_the_router(env: Stack) -> None:
    tenant = await make_tenant(env)
    completion = await _client(env, tenant.api_key).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Where is my order 123?"}]
    )
    assert completion.choices[0].message.content is not None
    [metered] = await _metered(env)
    assert metered["payload"]["decision_id"]  # type: ignore[index]


async def test_unknown_model_and_bad_key_are_refused(env: Stack) -> None:
    tenant = await make_tenant(env)
    with pytest.raises(openai.NotFoundError):
        await _client(env, tenant.api_key).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.AuthenticationError):
        await _client(env, "ak_bogus_key").models.list()
