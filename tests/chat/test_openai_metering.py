"""What the OpenAI-compatible surface stores per request: the router's decision and the usage, written
together (and with concurrent requests' writes, by group commit) right after the response's last byte,
within the request, exactly once."""

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
from starlette.types import Message

from aiaas.backends.llm.types import ChatRequest, ChatResult, LLMUnavailable, StreamDelta, Usage
from aiaas.chat import events as ev
from aiaas.chat.runtime import GroupCommit
from aiaas.events.outbox import insert_events, outbox_row, record_event
from aiaas.kit.context import bind_context
from aiaas.kit.db import TenantMismatch
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


async def test_group_commit_inserts_prebuilt_rows_and_fails_only_the_bad_one(env: Stack) -> None:
    tenant, other = await make_tenant(env), await make_tenant(env)
    tenant_id = UUID(tenant.id)
    writes = GroupCommit(env.platform.db)

    async def call(n: int) -> None:
        bind_context(request_id=f"r-{n}")  # the outbox row takes the caller's context when built
        usage = ev.CompletionCreated(
            completion_id=f"c-{n}", model="m", decision_id=None, stream=False,
            input_tokens=n, output_tokens=1, cost_micros=0, latency_ms=1,
        )  # fmt: skip
        row = outbox_row(
            tenant_id, "chat.completion.created", usage, subject_type="completion",
            subject_id=f"c-{n}",
        )  # fmt: skip
        if n == 5:  # a row of another tenant must not be written into this tenant's transaction
            row = {**row, "tenant_id": UUID(other.id)}
        await writes.insert(tenant_id, events=[row])

    results = await asyncio.gather(*(call(n) for n in range(8)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType"] * 5 + ["TenantMismatch"] + [
        "NoneType"
    ] * 2
    stored = await _events(env, "chat.completion.created")
    assert sorted(e["payload"]["completion_id"] for e in stored) == [
        f"c-{n}" for n in range(8) if n != 5
    ]
    assert all(e["request_id"] == "r-" + e["payload"]["completion_id"][2:] for e in stored)
    assert {e["tenant_id"] for e in stored} == {tenant.id}


async def test_inserted_rows_take_the_session_tenant_and_need_one(env: Stack) -> None:
    tenant = await make_tenant(env)
    usage = ev.CompletionCreated(
        completion_id="c-1", model="m", decision_id=None, stream=False,
        input_tokens=1, output_tokens=1, cost_micros=0, latency_ms=1,
    )  # fmt: skip
    row = outbox_row(
        UUID(tenant.id), "chat.completion.created", usage, subject_type="completion",
        subject_id="c-1",
    )  # fmt: skip
    with pytest.raises(TenantMismatch):
        async with env.platform.db.transaction(None) as session:
            await insert_events(session, [row])
    unstamped = {k: v for k, v in row.items() if k != "tenant_id"}
    async with env.platform.db.transaction(UUID(tenant.id)) as session:
        await insert_events(session, [unstamped])
    stored = await _events(env, "chat.completion.created")
    assert [(e["tenant_id"], e["payload"]["completion_id"]) for e in stored] == [(tenant.id, "c-1")]


# ---- exactly once, after the response ------------------------------------------------------------


async def _counts(env: Stack) -> tuple[int, int, int]:
    """Decision rows, ``router.decision.made`` events, ``chat.completion.created`` events."""
    decisions = await _decision_ids(env)
    made = await _events(env, "router.decision.made")
    usage = await _events(env, "chat.completion.created")
    return len(decisions), len(made), len(usage)


async def _call(
    env: Stack,
    key: str,
    body: dict[str, Any],
    *,
    on_send: Any = None,
    disconnect: asyncio.Event | None = None,
) -> list[Message]:
    """One request straight through the ASGI app; returns the messages sent. ``disconnect``, once
    set, makes the client hang up."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {key}".encode())],
    }  # fmt: skip
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}
        if disconnect is None:
            await asyncio.Event().wait()
        else:
            await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if on_send is not None:
            on_send(message)

    await env.app(scope, receive, send)
    return sent


def _body(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_completion_is_recorded_once_after_its_last_byte(env: Stack, stream: bool) -> None:
    tenant = await make_tenant(env)
    chat = env.platform.chat
    order: list[str] = []
    insert = chat.writes.insert

    async def observed_insert(tenant_id: UUID, rows: Any = (), events: Any = ()) -> None:
        order.append("write")
        await insert(tenant_id, rows, events)
        order.append("committed")

    def on_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            order.append("last byte")

    chat.writes.insert = observed_insert  # type: ignore[method-assign]
    try:
        sent = await _call(
            env,
            tenant.api_key,
            {"model": "auto", "messages": [{"role": "user", "content": "Where is order 7?"}],
             "stream": stream},
            on_send=on_send,
        )  # fmt: skip
    finally:
        del chat.writes.insert
    assert sent[0]["status"] == 200
    assert (b"[DONE]" in _body(sent)) is stream
    # The client had the whole answer before the write began; the call ended after its commit.
    assert order == ["last byte", "write", "committed"]
    assert await _counts(env) == (1, 1, 1)
    [usage] = await _events(env, "chat.completion.created")
    assert usage["payload"]["stream"] is stream and usage["payload"]["decision_id"]


class _Stalls:
    """A model whose stream sends one delta and then never finishes."""

    def __init__(self) -> None:
        self.first_sent = asyncio.Event()

    async def complete(self, request: ChatRequest) -> ChatResult:
        raise AssertionError("not called")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        yield StreamDelta(text="Let me ")
        self.first_sent.set()
        await asyncio.Event().wait()
        yield StreamDelta(result=ChatResult("", "m", "openai", Usage(1, 1), 0))


class _Interrupted:
    """A model whose stream breaks after its first delta."""

    async def complete(self, request: ChatRequest) -> ChatResult:
        raise AssertionError("not called")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        yield StreamDelta(text="Let me ")
        raise ConnectionResetError("upstream went away")


async def test_a_client_hanging_up_mid_stream_records_the_decision_once(env: Stack) -> None:
    tenant = await make_tenant(env)
    chat = env.platform.chat
    previous, stalls = chat.llm, _Stalls()
    chat.llm = stalls  # type: ignore[assignment]
    hang_up = asyncio.Event()

    def on_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and b"Let me" in message.get("body", b""):
            hang_up.set()

    try:
        sent = await _call(
            env,
            tenant.api_key,
            {"model": "auto", "messages": [{"role": "user", "content": "refund?"}], "stream": True},
            on_send=on_send,
            disconnect=hang_up,
        )
    finally:
        chat.llm = previous
    assert b"Let me" in _body(sent) and b"[DONE]" not in _body(sent)
    assert await _counts(env) == (1, 1, 0)


async def test_a_stream_broken_upstream_records_the_decision_once(env: Stack) -> None:
    tenant = await make_tenant(env)
    chat = env.platform.chat
    previous = chat.llm
    chat.llm = _Interrupted()  # type: ignore[assignment]
    try:
        with pytest.raises(ConnectionResetError):
            await _call(
                env,
                tenant.api_key,
                {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True},
            )
    finally:
        chat.llm = previous
    assert await _counts(env) == (1, 1, 0)
