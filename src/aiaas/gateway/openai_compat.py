"""The OpenAI-compatible surface: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Authenticated with a tenant API key (same auth, rate limits and plans as the rest of the API);
``model: "auto"`` lets the router choose; every completion is metered as an event. Wire format as
OpenAI's, so the official clients work unchanged.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import FromClause
from starlette.background import BackgroundTask

from aiaas.backends.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    ToolCall,
    ToolSpec,
)
from aiaas.chat import events as ev
from aiaas.chat.dependencies import ChatDep
from aiaas.chat.ports import PreparedDecision
from aiaas.chat.runtime import ChatRuntime
from aiaas.events import outbox_row
from aiaas.kit.errors import BadRequest, NotFound
from aiaas.kit.routing import GuardedRoute
from aiaas.kit.streaming import EventStream, LastChunk
from aiaas.tenancy.dependencies import require
from aiaas.tenancy.permissions import Principal

log = logging.getLogger(__name__)
router = APIRouter(route_class=GuardedRoute, prefix="/v1", tags=["openai-compatible"])
AUTO = "auto"
Caller = Annotated[Principal, require("chat:write")]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class FunctionCall(BaseModel):
    name: str
    arguments: str = "{}"


class ToolCallIn(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class FunctionDef(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolIn(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDef


class StreamOptions(BaseModel):
    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[MessageIn] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1, description="Only one choice is supported")
    tools: list[ToolIn] | None = None
    user: str | None = None


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text or "" for part in content if part.type == "text")


def _messages(body: CompletionRequest) -> tuple[ChatMessage, ...]:
    out = []
    for message in body.messages:
        role = "system" if message.role == "developer" else message.role
        calls = tuple(
            ToolCall(call.id, call.function.name, _arguments(call.function.arguments))
            for call in message.tool_calls or ()
        )
        out.append(
            ChatMessage(
                role=role,
                content=_text(message.content),
                tool_calls=calls,
                tool_call_id=message.tool_call_id,
                name=message.name,
            )
        )
    return tuple(out)


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        raise BadRequest(
            "tool call arguments must be a JSON object", code="invalid_tool_call"
        ) from None
    if not isinstance(value, dict):
        raise BadRequest("tool call arguments must be a JSON object", code="invalid_tool_call")
    return value


async def _chat_request(
    chat: ChatRuntime, principal: Principal, body: CompletionRequest
) -> tuple[ChatRequest, PreparedDecision | None]:
    messages = _messages(body)
    model: str | None = body.model
    tier: str | None = None
    prepared: PreparedDecision | None = None
    if body.model == AUTO:
        model = None
        if chat.router is not None and principal.tenant_id is not None:
            last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
            # Decided in memory now, recorded with the usage once the completion is done.
            prepared = await chat.router.prepare(chat.service.db, principal, last_user, turn=1)
            model = prepared.decision.model
            tier = prepared.decision.tier
    elif body.model not in chat.catalog:
        raise NotFound(f"The model `{body.model}` does not exist", code="model_not_found")
    request = ChatRequest(
        messages=messages,
        model=model,
        tier=tier,
        tools=tuple(
            ToolSpec(t.function.name, t.function.description, t.function.parameters)
            for t in body.tools or ()
        ),
        max_output_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
    )
    return request, prepared


class _Metering:
    """The one record of a request, written at most once whoever asks first: the response's
    background task once the last byte is sent, or a stream's generator when it is cut short
    (then the background task may not run at all, or run later and find nothing left to do)."""

    def __init__(
        self,
        chat: ChatRuntime,
        principal: Principal,
        completion_id: str,
        prepared: PreparedDecision | None,
        stream: bool,
        started: float,
    ) -> None:
        self._chat = chat
        self._principal = principal
        self._completion_id = completion_id
        self._prepared = prepared
        self._stream = stream
        self._started = started
        self.result: ChatResult | None = None
        self.finished: float | None = None
        self._recorded = False

    def complete(self, result: ChatResult) -> None:
        """The model's result is in (its usage will be recorded)."""
        self.result = result
        self.finished = time.perf_counter()

    async def record(self) -> None:
        """Record the decision and, with a result, the usage; a no-op after the first call. A
        failed write is logged with what it would have stored (after the response there is no
        one left to tell) and does not replace the request's own outcome."""
        if self._recorded:
            return
        self._recorded = True
        try:
            with anyio.CancelScope(shield=True):
                await self._write()
        except Exception:
            result = self.result
            log.exception(
                "metering write failed after the response: completion %s, decision %s, "
                "model %s, tokens in/out %s/%s, cost %s micros",
                self._completion_id,
                self._prepared.id if self._prepared is not None else None,
                result.model if result else None,
                result.usage.input_tokens if result else None,
                result.usage.output_tokens if result else None,
                result.cost_micros if result else None,
            )

    async def _write(self) -> None:
        """The router decision and the metering event, in one transaction shared with the
        tenant's concurrent requests (group commit).

        A completed request is recorded right after its response's last byte was sent, still
        inside the request's ASGI call: the client does not wait for the commit, and a graceful
        shutdown, which waits for requests in flight, waits for it. A hard crash in that window
        (about a millisecond) can lose the one record. A failed model call is recorded before its
        error response. Shielded from cancellation (by :meth:`record`): a client that hangs up as
        the completion ends must not leave the decision or the usage unrecorded. Without a result
        (the model call failed, or a stream was cut short before the model finished) only the
        decision is recorded.
        """
        tenant_id = self._principal.tenant_id
        assert tenant_id is not None
        prepared, result = self._prepared, self.result
        if result is None and prepared is None:
            return
        usage = None
        if result is not None:
            finished = self.finished
            assert finished is not None  # set together with the result
            usage = ev.CompletionCreated(
                completion_id=self._completion_id,
                model=result.model,
                decision_id=str(prepared.id) if prepared is not None else None,
                stream=self._stream,
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                cost_micros=result.cost_micros,
                latency_ms=int((finished - self._started) * 1000),
            )

        rows: list[tuple[FromClause, dict[str, Any]]] = []
        events: list[dict[str, Any]] = []
        if prepared is not None:
            rows, events = prepared.rows()
        if usage is not None:
            events.append(
                outbox_row(
                    tenant_id,
                    "chat.completion.created",
                    usage,
                    subject_type="completion",
                    subject_id=self._completion_id,
                )
            )
        await self._chat.writes.insert(tenant_id, rows, events)


def _usage(result: ChatResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.usage.input_tokens,
        "completion_tokens": result.usage.output_tokens,
        "total_tokens": result.usage.total_tokens,
    }


def _tool_calls(result: ChatResult) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for call in result.tool_calls
    ]


def _finish_reason(result: ChatResult) -> str:
    if result.tool_calls:
        return "tool_calls"
    return result.finish_reason if result.finish_reason in ("stop", "length") else "stop"


@router.post("/chat/completions")
async def chat_completions(
    body: CompletionRequest, request: Request, chat: ChatDep, principal: Caller
) -> Any:
    """Create a chat completion (OpenAI wire format, streaming or not)."""
    started = time.perf_counter()
    llm_request, prepared = await _chat_request(chat, principal, body)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    metering = _Metering(chat, principal, completion_id, prepared, body.stream, started)
    if not body.stream:
        try:
            result = await chat.llm.complete(llm_request)
        except BaseException:
            await metering.record()
            raise
        metering.complete(result)
        message: dict[str, Any] = {"role": "assistant", "content": result.content, "refusal": None}
        if result.tool_calls:
            message["tool_calls"] = _tool_calls(result)
        completion = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": result.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _finish_reason(result),
                }
            ],
            "usage": _usage(result),
            "system_fingerprint": None,
        }
        # Sent first, recorded right after, within this request (see ``_Metering._write``).
        return JSONResponse(completion, background=BackgroundTask(metering.record))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    stream = chat.llm.stream(llm_request)
    try:
        first = await anext(stream)  # errors before the first byte become a proper status
    except BaseException:
        await metering.record()
        raise
    return EventStream(
        _chunks(
            llm_request.model or body.model,
            first,
            stream,
            completion_id,
            created,
            include_usage,
            metering,
        ),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
        background=BackgroundTask(metering.record),
    )


async def _chunks(
    model: str,
    first: Any,
    stream: AsyncIterator[Any],
    completion_id: str,
    created: int,
    include_usage: bool,
    metering: _Metering,
) -> AsyncIterator[bytes]:
    """The stream's events. One that runs to its end leaves the record to the response's
    background task; one cut short (client gone, upstream failure) records what it has here,
    since the background task does not run after an error. ``model`` is the one asked of the
    provider (the router's choice for ``auto``) until the result names the one that answered."""

    def event(choices: list[dict[str, Any]], usage: dict[str, Any] | None) -> bytes:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if include_usage:
            data["usage"] = usage
        return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        return event(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], None
        )

    result: ChatResult | None = None
    role_sent = False
    ended = False

    async def deltas() -> AsyncIterator[Any]:
        yield first
        async for item in stream:
            yield item

    try:
        async for item in deltas():
            if item.result is not None:
                result = item.result
                metering.complete(result)
                model = result.model
            if item.text or not role_sent:
                yield chunk(
                    {"role": "assistant", "content": item.text}
                    if not role_sent
                    else {"content": item.text},
                    None,
                )
                role_sent = True
        if result is None:
            ended = True
            return
        # The closing events are ready together: one write.
        tail = []
        if result.tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(_tool_calls(result))]
            tail.append(chunk({"tool_calls": calls}, None))
        tail.append(chunk({}, _finish_reason(result)))
        if include_usage:
            tail.append(event([], _usage(result)))
        tail.append(b"data: [DONE]\n\n")
        ended = True
        yield LastChunk(b"".join(tail))
    finally:
        if not ended:
            await metering.record()


@router.get("/models")
async def list_models(
    chat: ChatDep, _: Annotated[Principal, require("chat:read")]
) -> dict[str, Any]:
    """The models a completion may name, and ``auto`` (the router chooses)."""
    names = [AUTO, *(model.name for model in chat.settings.llm.models)]
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "aiaas"} for name in names
        ],
    }
