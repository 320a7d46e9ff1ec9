"""Pure ASGI middleware of the gateway.

``GatewayMiddleware`` does, in one pass over each request: the request id (taken or made,
returned in ``X-Request-ID``), the request context (request id, trace id, client address), the
server span, the Prometheus metrics, the access log line, the security headers, and the last
resort for exceptions nothing else handled. ``BodyLimitMiddleware`` refuses oversized bodies
with 413. ``install_middleware`` stacks them with CORS in the order that makes every response,
including CORS preflights and 413s, carry a request id and get counted and logged.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
from collections.abc import Iterable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiaas.backends.telemetry import request_logger
from aiaas.gateway.errors import code_for_status, internal_error_response, problem_response
from aiaas.gateway.metrics import (
    HTTP_REQUEST_METRICS,
    NO_TENANT,
    normalize_method,
    route_label,
)
from aiaas.gateway.ratelimit import HEADERS_STATE_KEY
from aiaas.kit.context import RequestContext, current_context, reset_context

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from aiaas.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

# Self only. The SPA is a Vite build (hashed files, no inline script or style); images may be
# data: URIs; the API is fetched (and the realtime socket opened) on the same origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# Everything that is not a page (JSON, problem+json, event streams, files) may load nothing and
# be framed by nobody, whatever a browser makes of it.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
_DOCUMENT_TYPES = (b"text/html", b"application/xhtml+xml")
HSTS_VALUE = "max-age=31536000; includeSubDomains"

# FastAPI >= 0.120 has its own OpenTelemetry server spans, on as soon as a global tracer
# provider exists. GatewayMiddleware makes the server span, so create the app with
# FastAPI(telemetry=FASTAPI_NATIVE_TELEMETRY_OFF) to avoid a second span per request.
FASTAPI_NATIVE_TELEMETRY_OFF = TelemetryConfig(tracing=False, metrics=False, logs=False)

CORS_EXPOSED_HEADERS = (
    REQUEST_ID_HEADER,
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
)
CORS_ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Probes and scrapes: counted, but no access line unless they fail.
DEFAULT_QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz", "/livez"})

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})
_MULTIPART = b"multipart/form-data"
_CLIENT_CLOSED_REQUEST = 499


def security_headers(*, hsts: bool, document: bool = True) -> list[tuple[bytes, bytes]]:
    """The headers added to a response (a response may set its own value for any of them).

    A page (``document``: HTML) gets the full set: its content security policy, referrer,
    opener and permissions policies. Any other response gets only what still matters when a
    browser is handed it: no sniffing, no framing, a policy that loads nothing. The page-only
    policies govern what a document does, and a JSON body does nothing.
    """
    headers = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ]
    if document:
        headers += [
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("cross-origin-opener-policy", "same-origin"),
            ("permissions-policy", PERMISSIONS_POLICY),
        ]
    else:
        headers.append(("content-security-policy", API_CONTENT_SECURITY_POLICY))
    if hsts:
        headers.append(("strict-transport-security", HSTS_VALUE))
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _new_request_id() -> str:
    # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID. A request id
    # correlates logs and grants nothing, so the fast generator serves (the span ids come from it
    # too) and a request costs no system call for it.
    return f"{random.getrandbits(128):032x}"  # nosec B311


def _new_unsampled_span_context() -> SpanContext:
    # Random non-zero ids as the SDK's RandomIdGenerator makes them: identifiers for correlating
    # logs, not secrets, so the fast generator is the right one.
    return SpanContext(
        trace_id=random.getrandbits(128) or 1,  # nosec B311
        span_id=random.getrandbits(64) or 1,  # nosec B311
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )


def _first_forwarded_address(value: bytes) -> str | None:
    first = value.split(b",", 1)[0].strip().decode("latin-1")
    try:
        return str(ipaddress.ip_address(first))
    except ValueError:
        return None


class GatewayMiddleware:
    """Request id, context, tracing, metrics, access log and security headers in one layer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trust_forwarded_for: bool = False,
        hsts: bool = False,
        tracer_provider: TracerProvider | None = None,
        metrics: bool = True,
        quiet_paths: Iterable[str] = DEFAULT_QUIET_PATHS,
    ) -> None:
        self.app = app
        self._trust_forwarded_for = trust_forwarded_for
        self._document_headers = security_headers(hsts=hsts, document=True)
        self._api_headers = security_headers(hsts=hsts, document=False)
        self._security_names = frozenset(name for name, _ in self._document_headers)
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer("aiaas.gateway")
        # A provider that records nothing: a request with no incoming trace gets its span (ids for
        # the logs and for propagation) without the SDK's sampling and bookkeeping.
        self._unsampled_roots = getattr(provider, "sampler", None) is ALWAYS_OFF
        self._metrics = HTTP_REQUEST_METRICS if metrics else None
        self._quiet_paths = frozenset(quiet_paths)
        # The hottest log call: a lean logger bound once (configure_logging must run first).
        self._access_log = request_logger("aiaas.access")
        self._access_lines = self._access_log.is_enabled_for(logging.INFO)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        started = perf_counter()
        raw_request_id = forwarded_for = None
        carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_request_id = value
            elif name == b"x-forwarded-for":
                forwarded_for = value
            elif name == b"traceparent" or name == b"tracestate":
                if carrier is None:
                    carrier = {}
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        if raw_request_id is not None and _SANE_REQUEST_ID.fullmatch(raw_request_id):
            request_id = raw_request_id.decode("ascii")
        else:
            request_id = _new_request_id()
        client_ip = self._client_ip(scope, forwarded_for)

        method = scope["method"]
        parent = propagate.extract(carrier) if carrier is not None else None
        if parent is None and self._unsampled_roots:
            span: trace.Span = trace.NonRecordingSpan(_new_unsampled_span_context())
        else:
            span = self._tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        span_context = span.get_span_context()
        trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else None
        otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
        previous_context = current_context()
        reset_context(RequestContext(request_id=request_id, trace_id=trace_id, client_ip=client_ip))

        request_id_header = (b"x-request-id", request_id.encode("ascii"))
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self._response_headers(
                    message.get("headers", ()), request_id_header, scope.get("state")
                )
            await send(message)

        error: BaseException | None = None
        if self._metrics is not None:
            self._metrics.started()
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            error = exc
            if status:
                # Too late for an error response: the server aborts the connection.
                self._access_log.error(
                    "response_aborted", status=status, request_id=request_id, exc_info=exc
                )
                raise
            response = internal_error_response(scope, exc)
            await response(scope, receive, send_with_headers)
        except BaseException as exc:  # cancelled: the client went away
            error = exc
            raise
        finally:
            if not status:
                status = _CLIENT_CLOSED_REQUEST if error is not None else 500
            try:
                self._finish(scope, span, started, status, request_id, trace_id, error)
            finally:
                otel_context.detach(otel_token)
                reset_context(previous_context)

    def _finish(
        self,
        scope: Scope,
        span: trace.Span,
        started: float,
        status: int,
        request_id: str,
        trace_id: str | None,
        error: BaseException | None,
    ) -> None:
        elapsed = perf_counter() - started
        method = normalize_method(scope["method"])
        route = route_label(scope)
        state = scope.get("state")
        tenant = (state.get("tenant_slug") if state else None) or current_context().tenant_slug
        tenant = tenant or NO_TENANT
        if self._metrics is not None:  # also ends the request's count in flight
            self._metrics.finished(method, route, status, tenant, elapsed)
        if span.is_recording():
            span.update_name(f"{method} {route}")
            span.set_attributes(
                {
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": status,
                    "aiaas.tenant": tenant,
                }
            )
            if error is not None and isinstance(error, Exception):
                span.record_exception(error)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        path = scope["path"]
        if self._access_lines and (status >= 400 or path not in self._quiet_paths):
            self._access_log.info(
                "http_request",
                method=method,
                route=route,
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000.0, 3),
                tenant=tenant,
                request_id=request_id,
                trace_id=trace_id,
            )

    def _response_headers(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        request_id_header: tuple[bytes, bytes],
        state: dict[str, Any] | None,
    ) -> list[tuple[bytes, bytes]]:
        merged = list(headers)
        rate_limit = state.get(HEADERS_STATE_KEY) if state else None
        if rate_limit:
            merged.extend(rate_limit)
        own = None
        document = False
        for name, value in merged:
            if name == b"content-type":
                document = value.startswith(_DOCUMENT_TYPES)
            elif own is None and name in self._security_names:
                own = {existing for existing, _ in merged}
        security = self._document_headers if document else self._api_headers
        merged.append(request_id_header)
        if own is None:
            merged.extend(security)
        else:  # the response chose some of these headers itself (e.g. the docs page's CSP)
            merged.extend(h for h in security if h[0] not in own)
        return merged

    def _client_ip(self, scope: Scope, forwarded_for: bytes | None) -> str | None:
        if forwarded_for is not None and self._trust_forwarded_for:
            address = _first_forwarded_address(forwarded_for)
            if address is not None:
                return address
        client = scope.get("client")
        return client[0] if client else None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_request_id = forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_request_id = value
            elif name == b"x-forwarded-for":
                forwarded_for = value
        if raw_request_id is not None and _SANE_REQUEST_ID.fullmatch(raw_request_id):
            request_id = raw_request_id.decode("ascii")
        else:
            request_id = _new_request_id()
        previous_context = current_context()
        reset_context(
            RequestContext(request_id=request_id, client_ip=self._client_ip(scope, forwarded_for))
        )
        try:
            await self.app(scope, receive, send)
        finally:
            reset_context(previous_context)


class RequestBodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` so that FastAPI's body parsing lets it through to the 413 handler
    instead of turning it into a 400 "error parsing the body".
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes.")
        self.limit = limit


def _too_large(scope: Scope, limit: int) -> Response:
    return problem_response(
        413,
        code_for_status(413),
        f"The request body exceeds the limit of {limit} bytes.",
        instance=scope.get("path"),
    )


class BodyLimitMiddleware:
    """413 when ``Content-Length`` or the bytes actually received exceed the limit.

    ``multipart/form-data`` requests (uploads) get ``max_upload_bytes``; others
    ``max_body_bytes``. A declared length over the limit is refused before the app runs.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_length: bytes | None = None
        multipart = chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = value
            elif name == b"content-type":
                multipart = value[: len(_MULTIPART)].lower() == _MULTIPART
            elif name == b"transfer-encoding":
                chunked = True
        limit = self.max_upload_bytes if multipart else self.max_body_bytes

        if content_length is not None and not chunked:
            try:
                declared = int(content_length)
            except ValueError:
                declared = -1
            if declared < 0:
                response: Response = problem_response(
                    400,
                    "bad_request",
                    "Content-Length is not a number.",
                    instance=scope.get("path"),
                )
                await response(scope, receive, send)
            elif declared > limit:
                await _too_large(scope, limit)(scope, receive, send)
            else:
                # The server holds the client to its declared length.
                await self.app(scope, receive, send)
            return
        if not chunked and scope["method"] in _BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except RequestBodyTooLarge:
            # Reached only when no exception handler rendered it (a bare ASGI app).
            if response_started:
                raise
            await _too_large(scope, limit)(scope, receive, send)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, answering a refused preflight with problem+json instead of text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        reasons = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            key: value
            for key, value in response.headers.items()
            if key not in ("content-length", "content-type")
        }
        return problem_response(
            400,
            "cors_rejected",
            f"Cross-origin request refused ({reasons}).",
            title="Cross-origin request refused",
            headers=headers,
        )


def install_middleware(
    app: FastAPI,
    settings: Settings,
    *,
    tracer_provider: TracerProvider | None = None,
    quiet_paths: Sequence[str] = tuple(DEFAULT_QUIET_PATHS),
) -> None:
    """Add the gateway middleware to ``app``; call it after any other ``add_middleware``.

    Outermost first: GatewayMiddleware (sees every response, CORS preflights and 413s
    included) -> CORS (only when origins are configured; puts its headers on 413s too) ->
    BodyLimitMiddleware -> the application.
    """
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict) and any(native.get(k, True) for k in FASTAPI_NATIVE_TELEMETRY_OFF):
        structlog.get_logger("aiaas.gateway").warning(
            "fastapi_native_telemetry_on",
            detail="create the app with FastAPI(telemetry=FASTAPI_NATIVE_TELEMETRY_OFF): "
            "FastAPI would add a second server span and its own spans to every request",
        )
    gateway = settings.gateway
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=gateway.max_body_bytes,
        max_upload_bytes=gateway.max_upload_bytes,
    )
    if gateway.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=gateway.cors_origins,
            allow_methods=CORS_ALLOWED_METHODS,
            allow_headers=["*"],
            allow_credentials=False,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(
        GatewayMiddleware,
        trust_forwarded_for=gateway.trust_forwarded_for,
        hsts=gateway.hsts,
        tracer_provider=tracer_provider,
        metrics=settings.telemetry.metrics_enabled,
        quiet_paths=quiet_paths,
    )
