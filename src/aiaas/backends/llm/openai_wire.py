"""The OpenAI chat-completions wire: one pooled HTTP client per provider, bodies as bytes.

:class:`ChatWire` posts ``{base_url}/chat/completions`` over aiohttp (the least CPU per call) or
httpx; :class:`EventStream` splits and decodes a streamed answer's server-sent events in place.
Failures come out as :class:`UpstreamConnectionError`, :class:`UpstreamStatusError` (with the
server's own message and code), :class:`UpstreamStreamError` or ``TimeoutError``; retries,
breakers and fallbacks belong to the provider (:mod:`aiaas.backends.llm.openai_provider`).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import httpx

from aiaas import __version__

try:  # a faster codec when installed (it comes with LangGraph's checkpointers)
    import orjson
except ImportError:  # pragma: no cover - the standard library's codec is the fallback
    orjson = None  # type: ignore[assignment]

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


def _status_error(status: int, headers: Mapping[str, str], raw: bytes) -> UpstreamStatusError:
    """The error an answer with ``status`` stands for, with the message and code the server put
    in its body (OpenAI's ``{"error": {"message", "type", "code"}}``, or plain text)."""
    message, code = "", None
    try:
        body = decode_json(raw)
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


def _transport_error(exc: httpx.TransportError) -> BaseException:
    """httpx's timeouts stay timeouts; every other transport failure is a connection failure."""
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(str(exc) or "timeout")
    return UpstreamConnectionError(str(exc) or type(exc).__name__)


class _HttpxStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()

    async def read(self) -> bytes:
        try:
            return await anext(self._chunks, b"")
        except httpx.TransportError as exc:
            raise _transport_error(exc) from exc

    async def close(self) -> None:
        await self._response.aclose()


class _HttpxTransport:
    """httpx with a keep-alive pool; proxies and certificates from the environment as httpx
    reads them (``HTTP(S)_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=None,  # noqa: S113  # nosec B113  # every call runs in the provider's own timeout scope
            limits=httpx.Limits(max_connections=_POOL_SIZE, max_keepalive_connections=_POOL_SIZE),
            trust_env=True,
            follow_redirects=True,  # as aiohttp does (and as the openai client did)
        )

    async def _send(self, url: str, body: bytes) -> httpx.Response:
        request = self._client.build_request("POST", url, content=body)
        try:
            return await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _transport_error(exc) from exc

    async def post(self, url: str, body: bytes) -> bytes:
        response = await self._send(url, body)
        try:
            raw = await response.aread()
        except httpx.TransportError as exc:
            raise _transport_error(exc) from exc
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
            value = decode_json(data)
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


def decode_json(raw: bytes) -> Any:
    """A JSON body, decoded once (``ValueError`` when it is not JSON)."""
    if orjson is not None:
        return orjson.loads(raw)  # orjson.JSONDecodeError is a ValueError
    return json.loads(raw)


def encode_body(body: dict[str, Any]) -> bytes:
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
