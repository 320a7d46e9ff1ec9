"""OpenAICompatibleProvider against a real HTTP server speaking the OpenAI chat-completions protocol."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aiaas.backends.llm import (
    ChatMessage,
    ChatRequest,
    Document,
    LLMSettings,
    LocalProvider,
    ModelInfo,
    OpenAICompatibleProvider,
    ResponseSchema,
    ToolSpec,
)
from aiaas.backends.llm.openai_wire import ChatWire
from aiaas.backends.llm.types import (
    LLMInvalidOutput,
    LLMQuotaExceeded,
    LLMRequestRejected,
    LLMStreamInterrupted,
    LLMUnavailable,
)

# ---- the server -----------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer: a completion, an error, or a stream (optionally breaking mid-way)."""

    status: int = 200
    content: str = "Hello there."
    tool_calls: list[dict[str, Any]] | None = None
    usage: tuple[int, int] | None = (1000, 100)
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[str] | None = None
    break_after: int | None = None
    raw_body: bytes | None = None
    raw_events: bytes | None = None
    delay: float = 0.0
    pause: float = 0.0  # between stream chunks


def error(status: int, code: str | None = None, **headers: str) -> Reply:
    return Reply(
        status=status, error_code=code, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


class WireServer:
    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.port = 0
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.handle, methods=["POST"])])

    def plan(self, model: str, *replies: Reply) -> None:
        self.script[model] = list(replies)

    def calls(self, model: str) -> int:
        return sum(1 for r in self.requests if r["model"] == model)

    async def handle(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization"))
        queue = self.script.get(body["model"], [])
        reply = queue.pop(0) if len(queue) > 1 else (queue[0] if queue else Reply())
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            payload = {"error": {"message": "scripted", "type": reply.error_code or "server_error",
                                 "code": reply.error_code}}  # fmt: skip
            return JSONResponse(payload, status_code=reply.status, headers=reply.headers)
        if reply.raw_body is not None:
            return Response(reply.raw_body, media_type="application/json")
        if reply.raw_events is not None:
            return Response(reply.raw_events, media_type="text/event-stream")
        if body.get("stream"):
            return StreamingResponse(self._sse(body, reply), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message = {"role": "assistant", "content": None, "tool_calls": reply.tool_calls}
        completion = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        }  # fmt: skip
        if reply.usage:
            completion["usage"] = _usage(reply.usage)
        return JSONResponse(completion)

    async def _sse(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
            return f"data: {json.dumps(data)}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        for index, text in enumerate(reply.chunks or [reply.content]):
            if reply.break_after is not None and index >= reply.break_after:
                raise ConnectionAbortedError("scripted stream break")
            yield chunk({"content": text})
            await asyncio.sleep(reply.pause)
        for index, call in enumerate(reply.tool_calls or []):
            fn = call["function"]
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": fn["name"], "arguments": ""},
                        }
                    ]
                }
            )
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": fn["arguments"]}}]}
            )
        yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
        if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
            data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                    "choices": [], "usage": _usage(reply.usage)}  # fmt: skip
            yield f"data: {json.dumps(data)}\n\n".encode()
        yield b"data: [DONE]\n\n"


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[WireServer]:
    wire = WireServer()
    config = uvicorn.Config(
        wire.app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    wire.port = uv.servers[0].sockets[0].getsockname()[1]
    yield wire
    uv.should_exit = True
    await task


@pytest.fixture
def wire(server: WireServer) -> WireServer:
    server.script.clear()
    server.requests.clear()
    server.authorizations.clear()
    return server


_opened: list[OpenAICompatibleProvider] = []


@pytest.fixture(autouse=True)
async def _close_providers() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().close()


MODELS = [
    ModelInfo(name="primary", tier="small", input_price_micros_per_million=150_000,
              output_price_micros_per_million=600_000),
    ModelInfo(name="backup", tier="medium", input_price_micros_per_million=400_000,
              output_price_micros_per_million=1_600_000),
    ModelInfo(name="local-extractive", provider="local", tier="local"),
]  # fmt: skip


def make(wire: WireServer, **overrides: Any) -> tuple[OpenAICompatibleProvider, list[float]]:
    options: dict[str, Any] = {
        "provider": "openai", "base_url": f"http://127.0.0.1:{wire.port}/v1", "api_key": "sk-test",
        "models": MODELS, "default_tier": "small", "max_retries": 2,
        "retry_initial_backoff_seconds": 0.0, "request_timeout_seconds": 5,
    }  # fmt: skip
    settings = LLMSettings(**(options | overrides))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    provider = OpenAICompatibleProvider(settings, local=LocalProvider(), sleep=sleep)
    _opened.append(provider)
    return provider, slept


def ask(text: str = "Hi", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(ChatMessage(role="user", content=text),), **kwargs)


async def collect(stream: AsyncIterator[Any]) -> tuple[list[str], Any]:
    texts, result = [], None
    async for delta in stream:
        if delta.text:
            texts.append(delta.text)
        if delta.result is not None:
            result = delta.result
    return texts, result


# ---- tests ----------------------------------------------------------------------------------


async def test_completion_usage_cost_and_documents(wire: WireServer) -> None:
    provider, _ = make(wire)
    wire.plan("primary", Reply(content="Returns are free for 30 days [1].", usage=(1000, 100)))
    docs = (Document(title="Returns", text="Free returns for 30 days.", id="doc-1"),)
    result = await provider.complete(ask("returns?", documents=docs))
    assert result.content == "Returns are free for 30 days [1]."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 100)
    assert result.cost_micros == 150 + 60  # 1000 * 0.15 + 100 * 0.6 micro-dollars
    assert result.citations[0].title == "Returns" and result.attempts == 1
    sent = wire.requests[0]
    assert sent["model"] == "primary" and sent["messages"][-1] == {
        "role": "user",
        "content": "returns?",
    }
    assert "[1] Returns <doc-1>" in sent["messages"][0]["content"]


async def test_streaming_deltas_and_usage(wire: WireServer) -> None:
    provider, _ = make(wire)
    wire.plan("primary", Reply(chunks=["Hel", "lo ", "world"], usage=(20, 3), pause=0.05))
    texts, result = await collect(provider.stream(ask()))
    assert texts == ["Hel", "lo ", "world"]  # each came on its own
    assert result.content == "Hello world" and result.usage.output_tokens == 3
    assert wire.requests[0]["stream"] is True and wire.requests[0]["stream_options"] == {
        "include_usage": True
    }


async def test_tool_calls_plain_and_streamed(wire: WireServer) -> None:
    provider, _ = make(wire)
    call = {"id": "call_1", "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id": "A-1"}'}}  # fmt: skip
    tool = ToolSpec(
        "lookup_order",
        "Find an order",
        {"type": "object", "properties": {"order_id": {"type": "string"}}},
    )
    wire.plan("primary", Reply(tool_calls=[call]))
    result = await provider.complete(ask("where is A-1", tools=(tool,)))
    assert result.tool_calls[0].name == "lookup_order" and result.tool_calls[0].arguments == {
        "order_id": "A-1"
    }
    assert wire.requests[0]["tools"][0]["function"]["name"] == "lookup_order"
    _, streamed = await collect(provider.stream(ask("where is A-1", tools=(tool,))))
    assert (
        streamed.tool_calls[0].arguments == {"order_id": "A-1"}
        and streamed.finish_reason == "tool_calls"
    )


async def test_structured_output_parsed_and_checked(wire: WireServer) -> None:
    provider, _ = make(wire)
    schema = ResponseSchema("lead", {"type": "object", "properties": {"email": {"type": "string"}},
                                     "required": ["email"]})  # fmt: skip
    wire.plan("primary", Reply(content='{"email": "a@b.co"}'))
    result = await provider.complete(ask(response_schema=schema))
    assert result.parsed == {"email": "a@b.co"}
    assert wire.requests[0]["response_format"]["type"] == "json_schema"
    wire.plan("primary", Reply(content='{"mail": 1}'))
    with pytest.raises(LLMInvalidOutput):
        await provider.complete(ask(response_schema=schema))


async def test_rate_limit_honours_retry_after_then_succeeds(wire: WireServer) -> None:
    provider, slept = make(wire)
    wire.plan("primary", error(429, "rate_limit_exceeded", retry_after="2"), Reply(content="ok"))
    result = await provider.complete(ask())
    assert result.content == "ok" and result.attempts == 2
    assert wire.calls("primary") == 2 and slept and slept[0] >= 2.0


async def test_insufficient_quota_is_called_exactly_once(wire: WireServer) -> None:
    provider, slept = make(wire, fallback_models=["backup"])
    wire.plan("primary", error(429, "insufficient_quota"))
    with pytest.raises(LLMQuotaExceeded):
        await provider.complete(ask())
    assert wire.calls("primary") == 1 and wire.calls("backup") == 0 and slept == []


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_client_errors_are_not_retried(wire: WireServer, status: int) -> None:
    provider, _ = make(wire, fallback_models=["backup"])
    wire.plan("primary", error(status))
    with pytest.raises(LLMRequestRejected):
        await provider.complete(ask())
    assert len(wire.requests) == 1


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
async def test_an_unreadable_answer_falls_back_to_the_next_model(
    wire: WireServer, body: bytes
) -> None:
    provider, _ = make(wire, fallback_models=["backup"])
    wire.plan("primary", Reply(raw_body=body))
    wire.plan("backup", Reply(content="From the backup."))
    result = await provider.complete(ask())
    assert result.content == "From the backup." and result.model == "backup"
    wire.plan("backup", Reply(raw_body=body))
    with pytest.raises(LLMUnavailable, match="not a JSON object"):
        await provider.complete(ask())


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_attempts_never_exceed_one_plus_max_retries(
    wire: WireServer, max_retries: int
) -> None:
    provider, _ = make(wire, max_retries=max_retries, breaker_failure_threshold=100)
    wire.plan("primary", error(500))
    with pytest.raises(LLMUnavailable):
        await provider.complete(ask())
    assert wire.calls("primary") == 1 + max_retries


async def test_server_errors_open_the_breaker(wire: WireServer) -> None:
    provider, _ = make(
        wire, max_retries=2, breaker_failure_threshold=3, breaker_recovery_seconds=60
    )
    wire.plan("primary", error(503))
    with pytest.raises(LLMUnavailable):
        await provider.complete(ask())
    assert wire.calls("primary") == 3
    with pytest.raises(LLMUnavailable, match="circuit open"):
        await provider.complete(ask())
    assert wire.calls("primary") == 3  # the open breaker kept the second call off the wire
    assert provider.breakers.get("openai", "primary").state == "open"


async def test_fallback_model_is_taken_when_retries_are_exhausted(wire: WireServer) -> None:
    provider, _ = make(wire, max_retries=1, fallback_models=["backup"])
    wire.plan("primary", error(502))
    wire.plan("backup", Reply(content="from backup", usage=(100, 10)))
    result = await provider.complete(ask())
    assert result.model == "backup" and result.content == "from backup"
    assert result.cost_micros == 40 + 16
    assert [r["model"] for r in wire.requests] == ["primary", "primary", "backup"]


async def test_local_model_as_last_fallback(wire: WireServer) -> None:
    provider, _ = make(wire, max_retries=0, fallback_models=["local-extractive"])
    wire.plan("primary", error(500))
    docs = (Document(title="Hours", text="Our store opens at 9am every weekday."),)
    result = await provider.complete(ask("When does the store open?", documents=docs))
    assert result.provider == "local" and "9am" in result.content and result.cost_micros == 0


async def test_stream_failing_after_first_token_is_not_retried(wire: WireServer) -> None:
    provider, _ = make(wire, fallback_models=["backup"])
    wire.plan("primary", Reply(chunks=["first ", "second"], break_after=1))
    texts: list[str] = []
    with pytest.raises(LLMStreamInterrupted):
        async for delta in provider.stream(ask()):
            texts.append(delta.text)
    assert texts == ["first "]
    assert len(wire.requests) == 1


async def test_stream_failing_before_first_token_is_retried(wire: WireServer) -> None:
    provider, _ = make(wire)
    wire.plan("primary", error(500), Reply(chunks=["fine"], break_after=0), Reply(chunks=["fine"]))
    texts, result = await collect(provider.stream(ask()))
    assert texts == ["fine"] and result.content == "fine"
    assert wire.calls("primary") == 3


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_connection_refused_is_retried_then_unavailable(http_client: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the calls: nothing listens there
    settings = LLMSettings(provider="openai", base_url=f"http://127.0.0.1:{port}/v1", models=MODELS,
                           max_retries=2, retry_initial_backoff_seconds=0.0,
                           http_client=http_client)  # fmt: skip
    attempts: list[float] = []

    async def sleep(seconds: float) -> None:
        attempts.append(seconds)

    provider = OpenAICompatibleProvider(settings, sleep=sleep)
    _opened.append(provider)
    with pytest.raises(LLMUnavailable, match="connection failed after 3 attempts"):
        await provider.complete(ask())
    assert len(attempts) == 2


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_both_http_clients_speak_the_protocol(wire: WireServer, http_client: str) -> None:
    provider, slept = make(wire, http_client=http_client)
    wire.plan("primary", error(503, retry_after="1"), Reply(content="plain", usage=(7, 2)))
    result = await provider.complete(ask())
    assert (result.content, result.usage.input_tokens, result.attempts) == ("plain", 7, 2)
    assert slept[0] >= 1.0
    wire.plan("primary", Reply(chunks=["a", "b"], usage=(3, 2)))
    texts, streamed = await collect(provider.stream(ask()))
    assert "".join(texts) == "ab" and streamed.usage.output_tokens == 2
    wire.plan("primary", Reply(chunks=["x", "y"], break_after=1))
    with pytest.raises(LLMStreamInterrupted):
        await collect(provider.stream(ask()))
    wire.plan("primary", error(400))
    with pytest.raises(LLMRequestRejected, match="HTTP 400: scripted"):
        await provider.complete(ask())


async def test_the_upstream_error_message_is_kept(wire: WireServer) -> None:
    provider, _ = make(wire)
    wire.plan("primary", Reply(status=422, raw_body=None, error_code="invalid_value"))
    with pytest.raises(LLMRequestRejected, match=r"primary: HTTP 422: scripted"):
        await provider.complete(ask())


def _events(*data: str, ending: bytes = b"\n\n") -> bytes:
    return b"".join(f"data: {d}".encode() + ending for d in data)


async def test_server_sent_events_decoding(wire: WireServer) -> None:
    provider, _ = make(wire)
    chunk = '{"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
    usage = '{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}'
    # CRLF line ends, a comment, an event field and a data field split over two lines
    raw = (
        b": keep-alive\r\n\r\n"
        + _events(chunk % "Hi", ending=b"\r\n\r\n")
        + b'event: message\ndata: {"choices":[{"index":0,\ndata: "delta":{"content":" you"}}]}\n\n'
        + _events(usage, "[DONE]")
        + _events(chunk % "ignored after DONE")
    )
    wire.plan("primary", Reply(raw_events=raw))
    texts, result = await collect(provider.stream(ask()))
    assert texts == ["Hi you"]  # both arrived in one read
    assert (result.usage.input_tokens, result.usage.output_tokens) == (4, 2)


async def test_deltas_that_arrive_together_are_passed_on_as_one(wire: WireServer) -> None:
    provider, _ = make(wire)
    chunk = '{"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
    finish = '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    raw = _events(chunk % "Our ", chunk % "return ", chunk % "window", finish, "[DONE]")
    wire.plan("primary", Reply(raw_events=raw))
    texts, result = await collect(provider.stream(ask()))
    assert texts == ["Our return window"]
    assert result.content == "Our return window" and result.finish_reason == "stop"


async def test_an_error_event_before_output_falls_back(wire: WireServer) -> None:
    provider, _ = make(wire, fallback_models=["backup"])
    wire.plan("primary", Reply(raw_events=_events('{"error":{"message":"overloaded"}}')))
    wire.plan("backup", Reply(chunks=["from backup"]))
    texts, result = await collect(provider.stream(ask()))
    assert texts == ["from backup"] and result.model == "backup"
    assert [r["model"] for r in wire.requests] == ["primary", "backup"]


async def test_an_unreadable_event_before_output_falls_back(wire: WireServer) -> None:
    provider, _ = make(wire, fallback_models=["backup"])
    wire.plan("primary", Reply(raw_events=_events("{not json")))
    wire.plan("backup", Reply(chunks=["ok"]))
    texts, _ = await collect(provider.stream(ask()))
    assert texts == ["ok"]


async def test_the_api_key_is_sent_as_a_bearer_token(wire: WireServer) -> None:
    provider, _ = make(wire)
    await provider.complete(ask())
    await collect(provider.stream(ask()))
    assert wire.authorizations == ["Bearer sk-test", "Bearer sk-test"]


def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,vllm.internal")
    chat = ChatWire("https://api.example.com/v1", "k")
    assert str(chat._transport._proxy(chat.url)[0]) == "http://proxy.internal:3128"  # type: ignore[attr-defined]
    local = ChatWire("https://vllm.internal/v1", "k")
    assert local._transport._proxy(local.url)[0] is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_a_slow_answer_times_out(wire: WireServer, http_client: str) -> None:
    provider, _ = make(wire, http_client=http_client, max_retries=1, request_timeout_seconds=0.2)
    wire.plan("primary", Reply(delay=1.0))
    with pytest.raises(LLMUnavailable, match="primary: timed out after 2 attempts"):
        await provider.complete(ask())
