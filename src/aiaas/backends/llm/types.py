"""The language-model contract: requests, results, stream deltas, errors, the provider protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiaas.kit.errors import AppError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asks for; ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation in the OpenAI chat format."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class Document:
    """A knowledge passage given to the model as grounding; cited as ``[n]`` by its position
    (1-based)."""

    title: str
    text: str
    id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ResponseSchema:
    """Structured output: the answer must be a JSON object matching ``schema``."""

    name: str
    schema: dict[str, Any]
    strict: bool = True


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request. ``model`` wins over ``tier``; neither means the catalog's default
    tier."""

    messages: tuple[ChatMessage, ...]
    model: str | None = None
    tier: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    response_schema: ResponseSchema | None = None
    documents: tuple[Document, ...] = ()
    max_output_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (estimated by providers that cannot count exactly)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Citation:
    """A ``[n]`` marker in the answer that refers to ``documents[n - 1]`` of the request."""

    index: int
    title: str
    id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ChatResult:
    """The outcome of a call: text, tool calls, the parsed structured output, usage and cost."""

    content: str
    model: str
    provider: str
    usage: Usage
    cost_micros: int
    finish_reason: str = "stop"
    tool_calls: tuple[ToolCall, ...] = ()
    parsed: dict[str, Any] | None = None
    citations: tuple[Citation, ...] = ()
    attempts: int = 1


@dataclass(frozen=True)
class StreamDelta:
    """One item of a stream: a text delta, or (last item only) the complete ``result``."""

    text: str = ""
    result: ChatResult | None = None


class LLMProvider(Protocol):
    """A chat-completion backend. Implementations: OpenAI-compatible HTTP, and the embedded local
    one."""

    name: str

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One completion; raises an :class:`LLMError` subclass on failure."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        """Text deltas as they come, then one final :class:`StreamDelta` carrying the result."""
        ...

    async def close(self) -> None:
        """Release connections and pools; the provider is not used afterwards."""
        ...


# ---- errors -----------------------------------------------------------------------------------


class LLMError(AppError):
    status, code, title = 502, "llm_error", "Language model error"


class LLMUnavailable(LLMError):
    """Every model of the chain failed with retryable errors or had its breaker open."""

    status, code, title = 503, "llm_unavailable", "Language model unavailable"


class LLMRequestRejected(LLMError):
    """The provider refused the request (400/401/403/404/422); retrying would not help."""

    status, code, title = 502, "llm_request_rejected", "Language model rejected the request"


class LLMQuotaExceeded(LLMError):
    """The provider account is out of quota (429 ``insufficient_quota``)."""

    status, code, title = 503, "llm_quota_exceeded", "Language model quota exhausted"


class LLMStreamInterrupted(LLMError):
    """A stream broke after text was delivered; not retried, so no text is duplicated."""

    status, code, title = 502, "llm_stream_interrupted", "Language model stream interrupted"


class LLMInvalidOutput(LLMError):
    """The model's structured output was not valid JSON for the requested schema."""

    status, code, title = 502, "llm_invalid_output", "Language model returned invalid output"


class LLMDeadlineExceeded(LLMError):
    """The overall deadline for the call passed."""

    status, code, title = 504, "llm_deadline_exceeded", "Language model deadline exceeded"


class UnknownModel(LLMError):
    """A model or tier that is not in the catalog."""

    status, code, title = 422, "llm_unknown_model", "Unknown model"
