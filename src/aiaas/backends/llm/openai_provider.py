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
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import aiohttp
import httpx
import openai
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from opentelemetry import trace

from aiaas import __version__
from aiaas.backends.llm.config import LLMSettings, ModelCatalog, ModelInfo
from aiaas.backends.llm.documents import citations_for, with_documents
from aiaas.backends.llm.local.text import estimate_tokens
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

try:  # a faster codec when installed (it comes with LangGraph's checkpointers)
    import orjson
except ImportError:  # pragma: no cover - the standard library's codec is the fallback
    orjson = None  # type: ignore[assignment]

T = TypeVar("T")
_tracer = trace.get_tracer("aiaas.llm")
_KEYLESS = "no-key"  # keyless local servers (Ollama, vLLM) still need a non-empty bearer value
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_POOL_SIZE = 100  # connections kept per provider (aiohttp's and httpx's default)
_ERROR_TEXT_LIMIT = 500


# ---- errors of the wire -------------------------------------------------------------------------


class UpstreamError(Exception):
    """A failure talking to the model server."""


class UpstreamConnectionError(UpstreamError):
    """The connection could not be made, or broke before the answer was complete."""


class UpstreamStatusError(UpstreamError):
    """The model server answered with an error status; ``message`` is the one it gave."""

    def __init__(
        self, status: int, message: str, code: str | None, headers: Mapping[str, str]
    ) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


class UpstreamStreamError(UpstreamError):
    """The model server reported an error inside a stream (an ``{"error": ...}`` event)."""


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


def _status_error(status: int, headers: Mapping[str, str], raw: bytes) -> UpstreamStatusError:
    """The error an answer with ``status`` stands for, with the message and code the server put
    in its body (OpenAI's ``{"error": {"message", "type", "code"}}``, or plain text)."""
    message, code = "", None
    try:
        body = _loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            kind = error.get("code") or error.get("type")
            code = str(kind) if kind else None
        elif isinstance(error, str):
            message = error
    if not message:
        message = raw.decode(errors="replace").strip()[:_ERROR_TEXT_LIMIT] or f"HTTP {status}"
    return UpstreamStatusError(status, message, code, headers)


# ---- the wire: one pooled HTTP client per provider ----------------------------------------------


class _RawStream(Protocol):
    async def read(self) -> bytes:
        """The next bytes of the body; ``b""`` at its end."""
        ...

    async def close(self) -> None:
        """Give the connection back (or drop it when the body was not read to its end)."""
        ...


class _Transport(Protocol):
    async def post(self, url: str, body: bytes) -> bytes:
        """POST ``body``; the answer's body on 2xx, else :class:`UpstreamStatusError`."""
        ...

    async def open(self, url: str, body: bytes) -> _RawStream:
        """POST ``body`` and return the answer's body unread, once its status is known good."""
        ...

    async def close(self) -> None:
        """Close the pool."""
        ...


class _AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def read(self) -> bytes:
        try:
            return await self._response.content.readany()
        except aiohttp.ClientError as exc:
            raise _connection_error(exc) from exc

    async def close(self) -> None:
        self._response.release()


class _AiohttpTransport:
    """aiohttp with a keep-alive pool: the least CPU per call. A proxy from ``HTTP(S)_PROXY`` /
    ``NO_PROXY`` is looked up once, when the pool opens, not on every request."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, tuple[Any, Any]] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_POOL_SIZE, ttl_dns_cache=300),
                # Every header aiohttp would add is set here: asking it to skip one costs a copy
                # of the headers on every request.
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None),  # the provider's own timeout scopes
                auto_decompress=True,
            )
        return self._session

    def _proxy(self, url: str) -> tuple[Any, Any]:
        proxy = self._proxies.get(url)
        if proxy is None:
            try:
                proxy = aiohttp.helpers.get_env_proxy_for_url(aiohttp.client.URL(url))
            except LookupError:
                proxy = (None, None)
            self._proxies[url] = proxy
        return proxy

    async def _send(self, url: str, body: bytes) -> aiohttp.ClientResponse:
        proxy, proxy_auth = self._proxy(url)
        try:
            return await self._client().post(url, data=body, proxy=proxy, proxy_auth=proxy_auth)
        except aiohttp.ClientError as exc:
            raise _connection_error(exc) from exc

    async def post(self, url: str, body: bytes) -> bytes:
        response = await self._send(url, body)
        try:
            raw = await response.read()
        except aiohttp.ClientError as exc:
            raise _connection_error(exc) from exc
        finally:
            response.release()
        if response.status >= 300:
            raise _status_error(response.status, response.headers, raw)
        return raw

    async def open(self, url: str, body: bytes) -> _RawStream:
        response = await self._send(url, body)
        if response.status >= 300:
            try:
                raw = await response.read()
            except aiohttp.ClientError:
                raw = b""
            finally:
                response.release()
            raise _status_error(response.status, response.headers, raw)
        return _AiohttpStream(response)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _connection_error(exc: aiohttp.ClientError) -> BaseException:
    """aiohttp's read timeouts stay timeouts; everything else is a connection failure."""
    if isinstance(exc, TimeoutError):
        return TimeoutError(str(exc) or "read timeout")
    return UpstreamConnectionError(str(exc) or type(exc).__name__)


class _HttpxStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()

    async def read(self) -> bytes:
        try:
            return await anext(self._chunks, b"")
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "read timeout") from exc
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        await self._response.aclose()


class _HttpxTransport:
    """httpx with a keep-alive pool; proxies and certificates from the environment as httpx
    reads them (``HTTP(S)_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=None,  # noqa: S113  # nosec B113 - every call runs in the provider's own timeout scope
            limits=httpx.Limits(max_connections=_POOL_SIZE, max_keepalive_connections=_POOL_SIZE),
            trust_env=True,
            follow_redirects=True,  # as aiohttp does (and as the openai client did)
        )

    async def _send(self, url: str, body: bytes) -> httpx.Response:
        request = self._client.build_request("POST", url, content=body)
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "timeout") from exc
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(str(exc) or type(exc).__name__) from exc

    async def post(self, url: str, body: bytes) -> bytes:
        response = await self._send(url, body)
        try:
            raw = await response.aread()
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "read timeout") from exc
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(str(exc) or type(exc).__name__) from exc
        finally:
            await response.aclose()
        if response.status_code >= 300:
            raise _status_error(response.status_code, response.headers, raw)
        return raw

    async def open(self, url: str, body: bytes) -> _RawStream:
        response = await self._send(url, body)
        if response.status_code >= 300:
            try:
                raw = await response.aread()
            except httpx.HTTPError:
                raw = b""
            finally:
                await response.aclose()
            raise _status_error(response.status_code, response.headers, raw)
        return _HttpxStream(response)

    async def close(self) -> None:
        await self._client.aclose()


class EventStream:
    """The server-sent events of one streamed answer, each ``data`` decoded as JSON.

    Lines end in ``\n`` or ``\r\n``; ``data`` lines of one event are joined; comments and other
    fields are skipped; ``data: [DONE]`` ends the stream. An ``{"error": ...}`` event raises
    :class:`UpstreamStreamError`. Bytes are read only when no decoded event is waiting, so most
    chunks cost no I/O wait and no timeout scope."""

    def __init__(self, raw: _RawStream) -> None:
        self._raw = raw
        self._ready: deque[Any] = deque()
        self._partial = b""
        self._data: list[bytes] = []
        self._ended = False

    async def next(self, seconds: float | None) -> Any:
        """The next event's JSON value within ``seconds``; :class:`StopAsyncIteration` at the end."""
        if not self._ready and not self._ended:
            async with asyncio.timeout(seconds):
                while not self._ready and not self._ended:
                    self._feed(await self._raw.read())
        if not self._ready:
            raise StopAsyncIteration
        value = self._ready.popleft()
        if value is _DONE:
            self._ready.clear()
            if not self._ended:  # read the body to its end so the connection can be reused
                async with asyncio.timeout(seconds):
                    while await self._raw.read():
                        pass
                self._ended = True
            raise StopAsyncIteration
        if isinstance(value, Exception):
            raise value
        return value

    def has_ready(self) -> bool:
        """Whether an event (or the end) is decoded and waiting: :meth:`next` will not read."""
        return bool(self._ready)

    async def close(self) -> None:
        """Release the connection."""
        await self._raw.close()

    def _feed(self, chunk: bytes) -> None:
        if not chunk:  # the body ended: an event not closed by a blank line still counts
            self._ended = True
            if self._partial:
                self._line(self._partial.rstrip(b"\r"))
                self._partial = b""
            self._dispatch()
            return
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line[:-1] if line.endswith(b"\r") else line)

    def _line(self, line: bytes) -> None:
        if not line:
            self._dispatch()
        elif line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        # ``event:``, ``id:``, ``retry:`` and ``:`` comments carry nothing a completion needs

    def _dispatch(self) -> None:
        if not self._data:
            return
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        self._data = []
        if data == b"[DONE]":
            self._ready.append(_DONE)
            return
        # Failures are queued in order, behind the events that came before them.
        try:
            value = _loads(data)
        except ValueError:
            value = UnreadableAnswer("a stream event is not JSON")
        if isinstance(value, dict) and value.get("error"):
            error = value["error"]
            message = error.get("message") if isinstance(error, dict) else error
            value = UpstreamStreamError(str(message or "an error occurred during streaming"))
        self._ready.append(value)


_DONE = object()


class ChatWire:
    """``POST {base_url}/chat/completions`` over a pooled HTTP client, bodies as bytes.

    ``kind`` picks the client: ``aiohttp`` (least CPU) or ``httpx``. Authentication is the
    ``Authorization: Bearer`` header of the API key."""

    def __init__(self, base_url: str, api_key: str, kind: str = "aiohttp") -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"aiaas/{__version__}",
        }
        self._transport: _Transport = (
            _HttpxTransport(headers) if kind == "httpx" else _AiohttpTransport(headers)
        )

    async def complete(self, body: bytes) -> bytes:
        """The completion's body (a 2xx answer)."""
        return await self._transport.post(self.url, body)

    async def stream(self, body: bytes) -> EventStream:
        """The answer's events, once its status is known good."""
        return EventStream(await self._transport.open(self.url, body))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._transport.close()


def _loads(raw: bytes) -> Any:
    if orjson is not None:
        return orjson.loads(raw)  # orjson.JSONDecodeError is a ValueError
    return json.loads(raw)


def _dumps(body: dict[str, Any]) -> bytes:
    """The request body, encoded once."""
    if orjson is not None:
        try:
            return orjson.dumps(body)
        except TypeError:  # e.g. a schema with non-string keys: the standard codec copes
            pass
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class UnreadableAnswer(Exception):
    """The model server answered 2xx with a body that is not a completion (the next model is
    tried)."""


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
            raw = await self._wire.complete(_dumps(self._params(model, request)))
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
            stream = await self._wire.stream(_dumps(body))
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
        data = _loads(raw)
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
