"""Any OpenAI-compatible chat endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM ...) with
resilience.

The wire protocol is spoken directly over a pooled HTTP client (:class:`ChatWire`): the request
body is encoded once, the answer decoded once, server-sent events split and decoded in place. There
is exactly one retry loop, this one:

* each attempt has a timeout and all attempts and fallbacks share one deadline;
* only connection errors, timeouts, 408, 429 ``rate_limit_exceeded`` and 5xx are retried, honouring
  ``Retry-After``; 400/401/403/404/422 and 429 ``insufficient_quota`` fail at once;
* a model gets at most ``1 + max_retries`` attempts; a circuit breaker per (provider, model) skips a
  model that keeps failing; then the fallback chain is tried in order;
* a stream is retried only until its first token: once text has been delivered a failure raises
  :class:`LLMStreamInterrupted` instead of silently starting over.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import openai
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from opentelemetry import trace

from aiaas.backends.llm.config import LLMSettings, ModelCatalog, ModelInfo
from aiaas.backends.llm.documents import citations_for, with_documents
from aiaas.backends.llm.local.text import estimate_tokens
from aiaas.backends.llm.openai_wire import (
    ChatWire,
    EventStream,
    UnreadableAnswer,
    UpstreamConnectionError,
    UpstreamStatusError,
    UpstreamStreamError,
    decode_json,
    encode_body,
)
from aiaas.backends.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    LLMDeadlineExceeded,
    LLMInvalidOutput,
    LLMProvider,
    LLMQuotaExceeded,
    LLMRequestRejected,
    LLMStreamInterrupted,
    LLMUnavailable,
    StreamDelta,
    ToolCall,
    Usage,
)
from aiaas.kit.resilience import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    Deadline,
    RetryPolicy,
    RetryState,
    parse_retry_after,
    retry_async,
)

T = TypeVar("T")
_tracer = trace.get_tracer("aiaas.llm")
_KEYLESS = "no-key"  # keyless local servers (Ollama, vLLM) still need a non-empty bearer value
_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def is_retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, 408, 429 (other than ``insufficient_quota``) and 5xx.

    Also understands the ``openai`` client's errors (the embeddings backend still uses it)."""
    status, code = _status_of(exc)
    if status is not None:
        if status == 429:
            return code != "insufficient_quota"
        return status == 408 or status >= 500
    return isinstance(exc, UpstreamConnectionError | openai.APIConnectionError | TimeoutError)


def _unhealthy(exc: BaseException) -> bool:
    """Failures saying the endpoint itself is in trouble (they count towards the breaker)."""
    status, _code = _status_of(exc)
    if status is not None:
        return status == 408 or status >= 500
    return isinstance(exc, UpstreamConnectionError | openai.APIConnectionError | TimeoutError)


def _status_of(exc: BaseException) -> tuple[int | None, str | None]:
    if isinstance(exc, UpstreamStatusError):
        return exc.status, exc.code
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code, exc.code
    return None, None


def retry_after_of(exc: BaseException) -> float | None:
    """The server's suggested wait from ``retry-after-ms`` or ``Retry-After``, if any."""
    if isinstance(exc, UpstreamStatusError):
        headers: Mapping[str, str] = exc.headers
    elif isinstance(exc, openai.APIStatusError):
        headers = exc.response.headers
    else:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


@dataclass
class _Accumulator:
    """Builds a result out of stream chunks (decoded JSON objects, as sent)."""

    text: list[str] = field(default_factory=list)
    tools: dict[int, dict[str, str]] = field(default_factory=dict)
    usage: Usage | None = None
    finish_reason: str = "stop"

    def add(self, chunk: Any) -> str:
        if not isinstance(chunk, dict):
            raise UnreadableAnswer("a stream chunk is not a JSON object")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
        delta_text = ""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if delta.get("content"):
                delta_text += str(delta["content"])
            for call in delta.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                slot = self.tools.setdefault(
                    int(call.get("index") or 0), {"id": "", "name": "", "arguments": ""}
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function")
                if isinstance(function, dict):
                    slot["name"] += function.get("name") or ""
                    slot["arguments"] += function.get("arguments") or ""
        self.text.append(delta_text)
        return delta_text

    def has_output(self) -> bool:
        return any(self.text) or bool(self.tools)


class OpenAICompatibleProvider:
    """:class:`LLMProvider` over the OpenAI chat-completions wire protocol, with retries, breakers
    and fallbacks."""

    name = "openai"

    def __init__(
        self,
        settings: LLMSettings,
        *,
        local: LLMProvider | None = None,
        wire: ChatWire | None = None,
        breakers: BreakerRegistry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.catalog: ModelCatalog = settings.catalog()
        self._local = local
        key = settings.api_key.get_secret_value() if settings.api_key else _KEYLESS
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL
        self._wire = wire or ChatWire(base_url, key, settings.http_client)
        self.breakers = breakers or BreakerRegistry(
            failure_threshold=settings.breaker_failure_threshold,
            recovery_seconds=settings.breaker_recovery_seconds,
        )
        self._sleep = sleep
        self._policy = RetryPolicy(
            max_attempts=1 + settings.max_retries,
            initial_backoff=settings.retry_initial_backoff_seconds,
            max_backoff=settings.retry_max_backoff_seconds,
            max_retry_after=settings.max_retry_after_seconds,
        )

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._wire.close()

    # ---- public API ---------------------------------------------------------------------------
    async def complete(self, request: ChatRequest) -> ChatResult:
        """One completion through the retry loop and the fallback chain."""
        with _tracer.start_as_current_span("llm.complete") as span:
            result = await self._run(request, self._complete_once, span)
            span.set_attribute("llm.model", result.model)
            return result

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        """Deltas of one completion; retried and failed over only before the first token."""
        # A span that is not made current: a generator may be finished in another context.
        span = _tracer.start_span("llm.stream")
        try:
            opened = await self._run(request, self._open_stream, span)
            if isinstance(opened, ChatResult):  # served by the local provider
                async for delta in self._local_stream(opened):
                    yield delta
                return
            async for delta in opened:
                yield delta
        finally:
            span.end()

    # ---- the loop -----------------------------------------------------------------------------
    def chain(self, request: ChatRequest) -> list[ModelInfo]:
        """The chosen model followed by the fallback models, without repeats."""
        chosen = self.catalog.resolve(request.model, request.tier)
        names = [chosen.name, *(m for m in self.settings.fallback_models if m != chosen.name)]
        return [self.catalog.get(n) for n in dict.fromkeys(names)]

    async def _run(
        self,
        request: ChatRequest,
        operation: Callable[[ModelInfo, ChatRequest, Deadline], Awaitable[T]],
        span: Any,
    ) -> T | ChatResult:
        deadline = Deadline(self.settings.deadline_seconds)
        failures: list[str] = []
        for model in self.chain(request):
            if model.provider == "local":
                if self._local is None:
                    failures.append(f"{model.name}: no local provider")
                    continue
                return await self._local.complete(replace(request, model=model.name))
            breaker = self.breakers.get(model.provider, model.name)
            state = RetryState()

            async def attempt(
                _n: int, model: ModelInfo = model, breaker: CircuitBreaker = breaker
            ) -> T:
                return await self._guarded(operation, model, request, deadline, breaker)

            try:
                result = await retry_async(
                    attempt,
                    policy=self._policy,
                    retryable=is_retryable,
                    retry_after=retry_after_of,
                    deadline=deadline,
                    sleep=self._sleep,
                    state=state,
                )
            except CircuitOpenError as exc:
                failures.append(f"{model.name}: {exc.detail}")
                continue
            except UpstreamStatusError as exc:
                if exc.status == 429 and exc.code == "insufficient_quota":
                    raise LLMQuotaExceeded(f"{model.name}: provider quota exhausted") from exc
                if not is_retryable(exc):
                    raise LLMRequestRejected(
                        f"{model.name}: HTTP {exc.status}: {exc.message}"
                    ) from exc
                failures.append(f"{model.name}: HTTP {exc.status} after {state.attempts} attempts")
            except UpstreamConnectionError as exc:
                failures.append(
                    f"{model.name}: connection failed after {state.attempts} attempts ({exc})"
                )
            except TimeoutError:
                failures.append(f"{model.name}: timed out after {state.attempts} attempts")
            except (UpstreamStreamError, UnreadableAnswer) as exc:
                # an answer that cannot be used: try the next model
                failures.append(f"{model.name}: {exc}")
            else:
                span.set_attribute("llm.attempts", state.attempts)
                if isinstance(result, ChatResult):
                    return replace(result, attempts=state.attempts)
                return result
            if deadline.expired:
                raise LLMDeadlineExceeded("; ".join(failures))
        raise LLMUnavailable(
            "no model could answer: " + "; ".join(failures) if failures else "no model"
        )

    async def _guarded(
        self,
        operation: Callable[[ModelInfo, ChatRequest, Deadline], Awaitable[T]],
        model: ModelInfo,
        request: ChatRequest,
        deadline: Deadline,
        breaker: CircuitBreaker,
    ) -> T:
        if deadline.expired:
            raise LLMDeadlineExceeded(f"{model.name}: deadline passed")
        breaker.check()
        try:
            result = await operation(model, request, deadline)
        except Exception as exc:
            if _unhealthy(exc):
                breaker.record_failure()
            raise
        breaker.record_success()
        return result

    # ---- one attempt --------------------------------------------------------------------------
    def _params(self, model: ModelInfo, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model.name,
            "messages": [
                _wire_message(m) for m in with_documents(request.messages, request.documents)
            ],
        }
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        if request.response_schema is not None:
            rs = request.response_schema
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": rs.name, "schema": rs.schema, "strict": rs.strict},
            }
        if request.max_output_tokens is not None:
            params["max_tokens"] = request.max_output_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    async def _complete_once(
        self, model: ModelInfo, request: ChatRequest, deadline: Deadline
    ) -> ChatResult:
        timeout = deadline.timeout(self.settings.request_timeout_seconds)
        async with asyncio.timeout(timeout):
            raw = await self._wire.complete(encode_body(self._params(model, request)))
        completion = _json_body(raw)
        choices = completion.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        content = message.get("content") or ""
        calls = tuple(
            ToolCall(
                id=str(c.get("id") or f"call_{index}"),
                name=str(c["function"].get("name") or ""),
                arguments=_json_object(c["function"].get("arguments") or ""),
            )
            for index, c in enumerate(message.get("tool_calls") or [])
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        )
        reported = completion.get("usage")
        usage = (
            Usage(reported.get("prompt_tokens") or 0, reported.get("completion_tokens") or 0)
            if isinstance(reported, dict)
            else _estimate(request, content)
        )
        return self._result(
            model, request, content, calls, usage, choice.get("finish_reason") or "stop"
        )

    async def _open_stream(
        self, model: ModelInfo, request: ChatRequest, deadline: Deadline
    ) -> AsyncIterator[StreamDelta]:
        """Open a stream and read it up to its first output, so that everything before can be
        retried."""
        timeout = deadline.timeout(self.settings.request_timeout_seconds)
        body = {**self._params(model, request), "stream": True}
        body["stream_options"] = {"include_usage": True}
        async with asyncio.timeout(timeout):
            stream = await self._wire.stream(encode_body(body))
        acc = _Accumulator()
        finished = False
        try:
            while not acc.has_output():
                try:
                    chunk = await stream.next(
                        deadline.timeout(self.settings.request_timeout_seconds)
                    )
                except StopAsyncIteration:
                    finished = True
                    break
                acc.add(chunk)
        except BaseException:
            await stream.close()
            raise
        return self._continue_stream(model, request, deadline, stream, acc, finished)

    async def _continue_stream(
        self,
        model: ModelInfo,
        request: ChatRequest,
        deadline: Deadline,
        stream: EventStream,
        acc: _Accumulator,
        finished: bool,
    ) -> AsyncIterator[StreamDelta]:
        breaker = self.breakers.get(model.provider, model.name)

        async def read() -> Any:
            try:
                return await stream.next(deadline.timeout(self.settings.request_timeout_seconds))
            except StopAsyncIteration:
                raise
            except Exception as exc:
                if _unhealthy(exc):
                    breaker.record_failure()
                raise LLMStreamInterrupted(
                    f"{model.name}: stream failed after partial output "
                    f"({type(exc).__name__}); not retried"
                ) from exc

        try:
            text = acc.text[-1] if acc.text else ""
            while not finished:
                # Events that arrived together go on as one delta: no reader could have seen them
                # apart, and each delta costs a write on every hop after this one.
                while not finished and (not text or stream.has_ready()):
                    try:
                        text += acc.add(await read())
                    except StopAsyncIteration:
                        finished = True
                if text:
                    yield StreamDelta(text=text)
                    text = ""
        finally:
            await stream.close()
        content = "".join(acc.text)
        calls = tuple(
            ToolCall(
                id=slot["id"] or f"call_{index}",
                name=slot["name"],
                arguments=_json_object(slot["arguments"]),
            )
            for index, slot in sorted(acc.tools.items())
        )
        usage = acc.usage or _estimate(request, content)
        yield StreamDelta(
            result=self._result(model, request, content, calls, usage, acc.finish_reason)
        )

    async def _local_stream(self, result: ChatResult) -> AsyncIterator[StreamDelta]:
        words = result.content.split(" ")
        for index, word in enumerate(words):
            yield StreamDelta(text=word if index == len(words) - 1 else word + " ")
        yield StreamDelta(result=result)

    def _result(
        self,
        model: ModelInfo,
        request: ChatRequest,
        content: str,
        calls: tuple[ToolCall, ...],
        usage: Usage,
        finish_reason: str,
    ) -> ChatResult:
        parsed = (
            _parse_structured(request, content) if request.response_schema and not calls else None
        )
        return ChatResult(
            content=content,
            model=model.name,
            provider=model.provider,
            usage=usage,
            cost_micros=model.cost_micros(usage.input_tokens, usage.output_tokens),
            finish_reason=finish_reason,
            tool_calls=calls,
            parsed=parsed,
            citations=citations_for(content, request.documents),
        )


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in message.tool_calls
        ]
    if message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id or ""
    if message.name:
        wire["name"] = message.name
    return wire


def _json_body(raw: bytes) -> dict[str, Any]:
    """A completion response's body as a dict; one that is not a JSON object is the server's
    fault."""
    try:
        data = decode_json(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UnreadableAnswer("the model server's answer is not a JSON object")
    return data


def _json_object(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError as exc:
        raise LLMInvalidOutput(f"tool call arguments are not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise LLMInvalidOutput("tool call arguments are not a JSON object")
    return value


def _parse_structured(request: ChatRequest, content: str) -> dict[str, Any]:
    assert request.response_schema is not None
    value = _json_object(content)
    try:
        errors = sorted(
            Draft202012Validator(request.response_schema.schema).iter_errors(value), key=str
        )
    except SchemaError as exc:
        raise LLMInvalidOutput(f"the response schema is invalid: {exc.message}") from exc
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise LLMInvalidOutput(
            f"structured output does not match the schema at {where}: {errors[0].message}"
        )
    return value


def _estimate(request: ChatRequest, content: str) -> Usage:
    prompt = "".join(m.content for m in request.messages) + "".join(
        d.text for d in request.documents
    )
    return Usage(estimate_tokens(prompt), estimate_tokens(content))
