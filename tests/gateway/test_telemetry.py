"""Structured logs (context, redaction, stdlib routing) and traces (request spans, propagation,
sampling, OTLP/HTTP export, database spans)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.datastructures import Headers

from aiaas.backends.telemetry import (
    REDACTED,
    configure_logging,
    configure_tracing,
    instrument_database,
    is_secret_key,
    request_logger,
    shutdown_tracing,
)
from aiaas.config import Settings, TelemetrySettings
from aiaas.gateway.errors import install_error_handlers
from aiaas.gateway.middleware import FASTAPI_NATIVE_TELEMETRY_OFF, install_middleware
from aiaas.kit.context import RequestContext, current_context, reset_context

ITEM_ROUTE = "/api/v1/items/{item_id}"


def telemetry(**values: Any) -> TelemetrySettings:
    return TelemetrySettings(**values)


@contextlib.contextmanager
def logging_to(**values: Any) -> Iterator[io.StringIO]:
    """Logging configured with ``values``, written to the stream given, undone on leaving."""
    stream = io.StringIO()
    configure_logging(telemetry(**values), stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "stream", None) is stream:
                root.removeHandler(handler)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    with logging_to() as stream:
        yield stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# ---- logging ----------------------------------------------------------------------------------
def test_log_lines_are_json_with_time_level_and_request_context(log_stream: io.StringIO) -> None:
    reset_context(RequestContext(request_id="r-1", trace_id="t" * 32, tenant_slug="acme"))
    try:
        structlog.get_logger("aiaas.test").info("order_looked_up", order="A-1")
    finally:
        reset_context()
    (line,) = lines(log_stream)
    assert line["event"] == "order_looked_up"
    assert line["order"] == "A-1"
    assert line["level"] == "info"
    assert line["request_id"] == "r-1"
    assert line["trace_id"] == "t" * 32
    assert line["tenant"] == "acme"
    assert line["timestamp"].endswith("Z")
    assert "T" in line["timestamp"]


def test_outside_a_request_no_context_fields(log_stream: io.StringIO) -> None:
    structlog.get_logger().warning("startup")
    (line,) = lines(log_stream)
    assert "request_id" not in line
    assert "tenant" not in line


def test_stdlib_loggers_share_the_format(log_stream: io.StringIO) -> None:
    reset_context(RequestContext(request_id="r-2"))
    try:
        logging.getLogger("uvicorn.error").warning("server %s", "starting")
        logging.getLogger("sqlalchemy.engine").info("SELECT secret FROM users")  # quieted
        logging.getLogger("sqlalchemy.orm.mapper.Mapper").info("(User|users) initialize prop id")
        logging.getLogger("uvicorn.access").info("GET / 200")  # the gateway logs access
    finally:
        reset_context()
    (line,) = lines(log_stream)
    assert line["event"] == "server starting"
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["request_id"] == "r-2"


def test_uvicorn_builds_no_access_line_the_gateway_replaces() -> None:
    # uvicorn decides once per connection, by whether its access logger reaches a handler, to
    # format an access line for every response. In a process of its own: pytest hangs capture
    # handlers on loggers that do not propagate.
    script = (
        "import logging\n"
        "from aiaas.backends.telemetry import configure_logging\n"
        "from aiaas.config import TelemetrySettings\n"
        "configure_logging(TelemetrySettings(log_level='INFO'))\n"
        "print([logging.getLogger(name).hasHandlers() for name in "
        "('uvicorn.access', 'uvicorn.error')])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[False, True]"


def test_uvicorn_access_lines_at_debug() -> None:
    with logging_to(log_level="DEBUG") as stream:
        logging.getLogger("uvicorn.access").info("GET / 200")
    assert [line["event"] for line in lines(stream)] == ["GET / 200"]


def test_level_filters_structlog_and_stdlib() -> None:
    with logging_to(log_level="WARNING") as stream:
        structlog.get_logger().info("hidden")
        logging.getLogger("some.library").info("hidden too")
        structlog.get_logger().warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_console_rendering_when_json_is_off() -> None:
    with logging_to(log_json=False) as stream:
        structlog.get_logger().info("hello_console", password="pw-123456")
    output = stream.getvalue()
    assert "hello_console" in output
    assert not output.lstrip().startswith("{")
    assert "pw-123456" not in output


def test_secrets_are_redacted(log_stream: io.StringIO) -> None:
    structlog.get_logger().info(
        "login_attempt",
        password="pw-111",
        api_key="key-222",
        access_token="tok-333",
        headers=Headers({"Authorization": "Bearer jwt-444", "Accept": "application/json"}),
        payload={"user": {"client_secret": "sec-555", "name": "ann"}},
        items=[{"refresh_token": "tok-666"}],
        prompt_tokens=12,
        api_key_id="key-id-1",
    )
    (line,) = lines(log_stream)
    raw = log_stream.getvalue()
    for secret in ("pw-111", "key-222", "tok-333", "jwt-444", "sec-555", "tok-666"):
        assert secret not in raw
    assert line["password"] == line["api_key"] == line["access_token"] == REDACTED
    assert line["headers"] == {"authorization": REDACTED, "accept": "application/json"}
    assert line["payload"] == {"user": {"client_secret": REDACTED, "name": "ann"}}
    assert line["items"] == [{"refresh_token": REDACTED}]
    assert line["prompt_tokens"] == 12
    assert line["api_key_id"] == "key-id-1"


def test_stdlib_extras_are_redacted(log_stream: io.StringIO) -> None:
    logging.getLogger("some.library").warning(
        "auth failed", extra={"token": "tok-777", "user": "u1"}
    )
    (line,) = lines(log_stream)
    assert line["token"] == REDACTED
    assert line["user"] == "u1"
    assert "tok-777" not in log_stream.getvalue()


def test_request_logger_follows_level_and_renders_errors() -> None:
    with logging_to(log_level="WARNING") as stream:
        access = request_logger("aiaas.access")
        assert not access.is_enabled_for(logging.INFO)
        assert access.is_enabled_for(logging.WARNING) and access.is_enabled_for(logging.ERROR)
        access.info("http_request", status=200)
        try:
            raise KeyError("missing")
        except KeyError as exc:
            access.error("response_aborted", status=200, exc_info=exc)
    (line,) = lines(stream)
    assert line["event"] == "response_aborted"
    assert line["level"] == "error"
    assert line["logger"] == "aiaas.access"
    assert "KeyError: 'missing'" in line["exception"]
    assert line["timestamp"].endswith("Z")


def test_request_logger_renders_for_the_console() -> None:
    with logging_to(log_json=False) as stream:
        access = request_logger("aiaas.access")
        assert access.is_enabled_for(logging.INFO) and not access.is_enabled_for(logging.DEBUG)
        access.info("http_request", status=204)
    output = stream.getvalue()
    assert "http_request" in output
    assert "status=204" in output
    assert not output.startswith("{")


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("new_password", True),
        ("Authorization", True),
        ("x-api-key", True),
        ("apikey", True),
        ("jwt_secret", True),
        ("set-cookie", True),
        ("database_dsn", True),
        ("prompt_tokens", False),
        ("total_tokens", False),
        ("api_key_id", False),
        ("token_type", False),
        ("tenant", False),
        ("secretary", False),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


# ---- tracing ----------------------------------------------------------------------------------
def test_provider_samples_by_ratio_and_names_the_service() -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing(
        telemetry(service_name="aiaas-test", trace_sample_ratio=0.25),
        exporter=exporter,
        set_global=False,
    )
    try:
        assert isinstance(provider.sampler, ParentBased)
        assert "TraceIdRatioBased{0.25}" in provider.sampler.get_description()
        assert provider.resource.attributes["service.name"] == "aiaas-test"
    finally:
        shutdown_tracing(provider)


def test_without_an_exporter_spans_have_ids_but_are_not_recorded() -> None:
    provider = configure_tracing(telemetry(), set_global=False)
    try:
        assert provider.sampler is ALWAYS_OFF
        span = provider.get_tracer("t").start_span("op")
        assert span.get_span_context().is_valid
        assert not span.is_recording()
    finally:
        shutdown_tracing(provider)


def build_app(provider: TracerProvider) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, telemetry=FASTAPI_NATIVE_TELEMETRY_OFF)

    @app.get(ITEM_ROUTE)
    async def get_item(item_id: int, request: Request) -> dict[str, Any]:
        request.state.tenant_slug = "acme"
        return {"item_id": item_id, "trace_id": current_context().trace_id}

    @app.get("/crash")
    async def crash() -> None:
        raise ValueError("boom")

    install_error_handlers(app)
    install_middleware(app, Settings(_env_file=None, env="test"), tracer_provider=provider)
    return app


@pytest.fixture
async def traced(
    log_stream: io.StringIO,
) -> AsyncIterator[tuple[httpx.AsyncClient, TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = configure_tracing(telemetry(), exporter=exporter, set_global=False)
    transport = httpx.ASGITransport(app=build_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, provider, exporter
    shutdown_tracing(provider)


def finished(provider: TracerProvider, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    provider.force_flush()
    return list(exporter.get_finished_spans())


async def test_one_server_span_per_request_named_by_route(
    traced: tuple[httpx.AsyncClient, TracerProvider, InMemorySpanExporter], log_stream: io.StringIO
) -> None:
    http, provider, exporter = traced
    response = await http.get("/api/v1/items/5", headers={"X-Request-ID": "span-1"})
    (span,) = finished(provider, exporter)
    assert span.name == f"GET {ITEM_ROUTE}"
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["http.route"] == ITEM_ROUTE
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["aiaas.tenant"] == "acme"
    trace_id = format(span.context.trace_id, "032x")
    assert response.json()["trace_id"] == trace_id
    (access,) = [line for line in lines(log_stream) if line.get("request_id") == "span-1"]
    assert access["trace_id"] == trace_id


async def test_incoming_traceparent_continues_the_trace(
    traced: tuple[httpx.AsyncClient, TracerProvider, InMemorySpanExporter],
) -> None:
    http, provider, exporter = traced
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    await http.get("/api/v1/items/1", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    (span,) = finished(provider, exporter)
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_id


async def test_failed_request_span_is_an_error(
    traced: tuple[httpx.AsyncClient, TracerProvider, InMemorySpanExporter],
) -> None:
    http, provider, exporter = traced
    assert (await http.get("/crash")).status_code == 500
    (span,) = finished(provider, exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    assert any(event.name == "exception" for event in span.events)


async def test_zero_ratio_records_nothing_but_keeps_trace_ids(log_stream: io.StringIO) -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing(
        telemetry(trace_sample_ratio=0.0), exporter=exporter, set_global=False
    )
    try:
        transport = httpx.ASGITransport(app=build_app(provider))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body = (await http.get("/api/v1/items/2")).json()
        assert finished(provider, exporter) == []
        assert len(body["trace_id"]) == 32
    finally:
        shutdown_tracing(provider)


async def test_without_an_exporter_requests_still_get_trace_ids() -> None:
    provider = configure_tracing(telemetry(), set_global=False)
    try:
        transport = httpx.ASGITransport(app=build_app(provider))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            first = (await http.get("/api/v1/items/1")).json()["trace_id"]
            second = (await http.get("/api/v1/items/2")).json()["trace_id"]
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
            continued = await http.get(
                "/api/v1/items/3", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
            )
        assert re.fullmatch(r"[0-9a-f]{32}", first) and int(first, 16) != 0
        assert first != second
        assert continued.json()["trace_id"] == trace_id
    finally:
        shutdown_tracing(provider)


class _CollectorHandler(BaseHTTPRequestHandler):
    received: list[tuple[str, ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, request))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_spans_are_exported_over_otlp_http() -> None:
    _CollectorHandler.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CollectorHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    provider = configure_tracing(
        telemetry(service_name="aiaas-otlp", otlp_endpoint=endpoint), set_global=False
    )
    try:
        with provider.get_tracer("test").start_as_current_span("exported-op"):
            pass
        assert await asyncio.to_thread(provider.force_flush, 10_000)
    finally:
        shutdown_tracing(provider)
        server.shutdown()
        server.server_close()
    paths = {path for path, _ in _CollectorHandler.received}
    assert paths == {"/v1/traces"}
    names: set[str] = set()
    services: set[str] = set()
    for _, request in _CollectorHandler.received:
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    assert names == {"exported-op"}
    assert services == {"aiaas-otlp"}


# ---- database spans ---------------------------------------------------------------------------
@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    db = create_async_engine("sqlite+aiosqlite:///:memory:")
    yield db
    await db.dispose()


async def test_database_statements_are_child_spans_of_the_request(
    engine: AsyncEngine, log_stream: io.StringIO
) -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing(telemetry(), engine, exporter=exporter, set_global=False)
    app = FastAPI(docs_url=None, redoc_url=None, telemetry=FASTAPI_NATIVE_TELEMETRY_OFF)

    @app.get("/db")
    async def query() -> dict[str, int]:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT 41 + 1"))).scalar_one()
        return {"value": value}

    install_middleware(app, Settings(_env_file=None, env="test"), tracer_provider=provider)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/db")).json() == {"value": 42}
        spans = finished(provider, exporter)
    finally:
        shutdown_tracing(provider)
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    statements = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert statements, [s.name for s in spans]
    for statement in statements:
        assert statement.parent is not None
        assert statement.parent.span_id == server.context.span_id
        assert statement.context.trace_id == server.context.trace_id
    assert any("SELECT" in str((s.attributes or {}).get("db.statement", "")) for s in statements)
    assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry


async def test_shutdown_removes_database_instrumentation(engine: AsyncEngine) -> None:
    exporter = InMemorySpanExporter()
    live = TracerProvider()
    live.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_database(engine, live)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert exporter.get_finished_spans(), "instrumented engines emit spans"
    exporter.clear()

    shutdown_tracing(TracerProvider())  # the instrumentation is process-wide
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert exporter.get_finished_spans() == ()
    assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
