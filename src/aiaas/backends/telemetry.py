"""Telemetry set-up: structured JSON logs (structlog) and OpenTelemetry traces.

Logs go to stdout as one JSON object per line (or a console rendering in development), each
carrying the request id, trace id and tenant of the request being handled. The standard library's
loggers (uvicorn, SQLAlchemy, libraries) are routed through the same rendering. Values under
secret-looking keys are redacted before rendering.

Traces use the OpenTelemetry SDK: a parent-based ratio sampler, an OTLP/HTTP exporter when an
endpoint is configured, and SQLAlchemy spans for the application's engine. Without an endpoint
spans are still created, so every request has a trace id to correlate logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

from aiaas.kit.context import current_context

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from aiaas.config import TelemetrySettings

REDACTED = "[REDACTED]"

# A key is secret when one of its segments (split on "_" or "-") names a credential. Whole
# segments only, so usage fields such as "prompt_tokens" stay visible while "access_token",
# "x-api-key" and "jwt_secret" are hidden. A trailing id/prefix/type segment names metadata
# about a credential (for instance "api_key_id", "token_type"), which is safe to log.
_SECRET_KEY = re.compile(
    r"(?:^|[_-])(?:password|passwd|passphrase|secret|token|authorization|api[_-]?key|apikey"
    r"|cookie|set[_-]cookie|credentials?|private[_-]key|signature|dsn)(?:$|[_-])",
    re.IGNORECASE,
)
_SAFE_SUFFIX = re.compile(
    r"[_-](?:id|ids|prefix|type|count|expires_at|ttl_seconds)$", re.IGNORECASE
)
_key_verdicts: dict[str, bool] = {}
_MAX_REDACT_DEPTH = 4
_SCALARS = frozenset({str, int, float, bool, type(None)})

_STDLIB_HANDLER_NAME = "aiaas-structured"
# All of SQLAlchemy: its ORM narrates every mapper's configuration at INFO (hundreds of lines on
# the first query), and its engine would log statement parameters.
_QUIET_LIBRARY_LOGGERS = (
    "uvicorn.access",
    "sqlalchemy",
    "httpx",
    "httpcore",
)

_tracer_provider: TracerProvider | None = None
_logging_state: tuple[int, bool, TextIO] | None = None  # level, JSON lines, output


# ---- logging --------------------------------------------------------------------------------
def is_secret_key(key: str) -> bool:
    """Whether a log field named ``key`` holds a credential (password, token, API key, ...)."""
    verdict = _key_verdicts.get(key)
    if verdict is None:
        verdict = bool(_SECRET_KEY.search(key)) and not _SAFE_SUFFIX.search(key)
        if len(_key_verdicts) < 4096:  # log keys are a small, fixed vocabulary in practice
            _key_verdicts[key] = verdict
    return verdict


def _redact_value(value: Any, depth: int) -> Any:
    if depth >= _MAX_REDACT_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(item, depth + 1) for item in value]
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: replace values under secret-looking keys, also in nested mappings.

    Mappings include header objects, so ``headers=request.headers`` loses its Authorization.
    """
    verdicts = _key_verdicts
    for key, value in event_dict.items():
        secret = verdicts.get(key)
        if secret is None:
            secret = is_secret_key(key)
        if secret:
            event_dict[key] = REDACTED
        elif type(value) not in _SCALARS and isinstance(value, Mapping | list | tuple):
            event_dict[key] = _redact_value(value, 0)
    return event_dict


def add_request_context(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: add request id, trace id and tenant slug of the current request."""
    ctx = current_context()
    if ctx.request_id is not None:
        event_dict.setdefault("request_id", ctx.request_id)
    if ctx.trace_id is not None:
        event_dict.setdefault("trace_id", ctx.trace_id)
    if ctx.tenant_slug is not None:
        event_dict.setdefault("tenant", ctx.tenant_slug)
    return event_dict


def _drop_color_message(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    # uvicorn passes an ANSI-coloured copy of each message as an "extra" field.
    event_dict.pop("color_message", None)
    return event_dict


def _renderer(json_lines: bool) -> Any:
    if json_lines:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def configure_logging(telemetry: TelemetrySettings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's logging to write one line per event.

    ``stream`` defaults to ``sys.stdout`` as it is at call time. Calling again replaces the
    previous configuration (loggers are not cached, so already imported modules follow it).
    """
    global _logging_state
    output = stream if stream is not None else sys.stdout
    level = logging.getLevelNamesMapping()[telemetry.log_level]
    _logging_state = (level, telemetry.log_json, output)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        timestamper,
        add_request_context,
        redact_secrets,
    ]
    exceptions: list[Any] = [structlog.processors.format_exc_info] if telemetry.log_json else []
    renderer = _renderer(telemetry.log_json)

    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=output),
        # Not cached: a later configure_logging (tests, CLI) must reach every module's logger.
        # The hot path (the access log) binds its logger once when the middleware is built.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_color_message,
            *shared,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            renderer,
        ],
    )
    handler = logging.StreamHandler(output)
    handler.set_name(_STDLIB_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _STDLIB_HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    # Servers and libraries configure their own handlers; route them through the root instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
        library_logger.setLevel(logging.NOTSET)
    # The gateway writes its own access line; libraries' INFO chatter stays out of the log.
    quiet_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in _QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(quiet_level, level))
    if level > logging.DEBUG:
        # uvicorn formats an access line's arguments for every response whenever its access
        # logger has a handler to reach, before the level drops the line. Cut off from the root
        # (as uvicorn's own --no-access-log leaves it), it does not even start.
        logging.getLogger("uvicorn.access").propagate = False


class JsonLineLogger:
    """Writes one JSON object per line, in the same shape as the structlog JSON rendering.

    The per-request fast path: no processor chain, one ``json.dumps`` and one write. Fields are
    written as given (no context merge, no redaction), so callers pass only safe values.
    """

    __slots__ = ("_level", "_lock", "_name", "_output")

    def __init__(self, name: str, output: TextIO, level: int) -> None:
        self._name = name
        self._output = output
        self._level = level
        self._lock = threading.Lock()

    def is_enabled_for(self, level: int) -> bool:
        """Whether a line at ``level`` (a :mod:`logging` level) would be written."""
        return level >= self._level

    def info(self, event: str, **fields: Any) -> None:
        if self._level <= logging.INFO:
            self._emit("info", event, fields)

    def error(self, event: str, *, exc_info: BaseException | None = None, **fields: Any) -> None:
        if exc_info is not None:
            fields["exception"] = "".join(traceback.format_exception(exc_info))
        self._emit("error", event, fields)

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        fields["event"] = event
        fields["level"] = level
        fields["logger"] = self._name
        fields["timestamp"] = datetime.now(UTC).replace(tzinfo=None).isoformat() + "Z"
        line = json.dumps(fields, default=repr) + "\n"
        with self._lock:
            self._output.write(line)
            self._output.flush()


def request_logger(name: str) -> Any:
    """A logger for per-request lines (the access log), built once and reused.

    It follows the level, format and output of the last :func:`configure_logging` (call that
    first). For JSON it is a :class:`JsonLineLogger`; for the console a structlog logger with a
    short chain. Neither merges the request context nor redacts: pass safe fields explicitly.
    Both answer ``is_enabled_for(level)``, so a caller can skip building a line nobody writes.
    """
    level, json_lines, output = _logging_state or (logging.INFO, True, sys.stdout)
    if json_lines:
        return JsonLineLogger(name, output, level)
    return structlog.wrap_logger(
        structlog.WriteLogger(output),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _renderer(json_lines),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    ).bind(logger=name)


# ---- tracing --------------------------------------------------------------------------------
def _traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector base URL (``http://collector:4318``)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def configure_tracing(
    telemetry: TelemetrySettings,
    engine: AsyncEngine | None = None,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build the process's tracer provider and return it.

    Spans are sampled with ``ParentBased(TraceIdRatioBased(trace_sample_ratio))`` and exported
    over OTLP/HTTP in batches when ``otlp_endpoint`` is set (``exporter`` replaces that exporter,
    for tests). Without an exporter no span is recorded, but every span still has ids.

    With ``set_global``, the first provider built in a process also becomes the global
    OpenTelemetry provider; OpenTelemetry forbids replacing it, so later calls only return a new
    provider to pass explicitly (the gateway middleware and SQLAlchemy take it as an argument).
    """
    global _tracer_provider
    if exporter is None and telemetry.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=_traces_url(telemetry.otlp_endpoint))
    # With nowhere to send spans, record none: unsampled spans still get trace and span ids
    # (for logs and propagation) and cost a fraction of a recorded span.
    sampler = (
        ParentBased(TraceIdRatioBased(telemetry.trace_sample_ratio))
        if exporter is not None
        else ALWAYS_OFF
    )
    resource = Resource.create({SERVICE_NAME: telemetry.service_name})
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    _tracer_provider = provider
    if engine is not None:
        instrument_database(engine, provider)
    return provider


def instrument_database(engine: AsyncEngine, tracer_provider: TracerProvider) -> None:
    """Emit a client span for every statement run on ``engine`` (an async engine).

    The instrumentation is process-wide: instrumenting another engine replaces the previous one.
    """
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # The package declares SQLAlchemy < 2.1 for its auto-instrumentation extra; the event hooks
    # it uses for an explicit engine are unchanged in 2.1 (covered by the tests).
    instrumentor.instrument(
        engine=engine.sync_engine, tracer_provider=tracer_provider, skip_dep_check=True
    )


def shutdown_tracing(provider: TracerProvider | None = None) -> None:
    """Flush and stop ``provider`` (default: the last one built); remove DB instrumentation."""
    global _tracer_provider
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    target = provider or _tracer_provider
    if target is not None:
        target.shutdown()
    if target is _tracer_provider:
        _tracer_provider = None
