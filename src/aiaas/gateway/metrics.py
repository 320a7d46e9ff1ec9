"""Prometheus metrics of the HTTP gateway and the ``/metrics`` endpoint that serves them.

Labels stay bounded: ``route`` is the matched route template (``/api/v1/users/{user_id}``),
never the raw path; ``method`` is one of the known HTTP methods or ``_OTHER``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Scope

UNMATCHED_ROUTE = "<unmatched>"
NO_TENANT = "-"
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "_OTHER"

# 1 ms to 10 s: a cached answer takes a few milliseconds, an LLM round trip several seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "aiaas_http_requests_total",
    "HTTP requests answered, by route template, status and tenant.",
    ("method", "route", "status", "tenant"),
)
HTTP_REQUEST_DURATION = Histogram(
    "aiaas_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response.",
    ("method", "route", "tenant"),
    buckets=DURATION_BUCKETS,
)
HTTP_REQUESTS_IN_FLIGHT = Gauge(
    "aiaas_http_requests_in_flight",
    "HTTP requests being handled right now.",
)
RATE_LIMIT_REJECTIONS = Counter(
    "aiaas_rate_limit_rejections_total",
    "Requests rejected by a rate limit, by tenant and limit scope (tenant, api_key, login, ...).",
    ("tenant", "scope"),
)

_MAX_CACHED_SERIES = 20_000


class RequestMetrics:
    """Records one finished request; caches the labelled children to skip label look-ups."""

    __slots__ = ("_children",)

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, tenant: str, seconds: float) -> None:
        key = (method, route, status, tenant)
        children = self._children.get(key)
        if children is None:
            if len(self._children) >= _MAX_CACHED_SERIES:
                self._children.clear()
            children = (
                HTTP_REQUESTS.labels(method, route, str(status), tenant),
                HTTP_REQUEST_DURATION.labels(method, route, tenant),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def normalize_method(method: str) -> str:
    """The method label: a known HTTP method, else ``_OTHER`` (clients choose any token)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_label(scope: Scope) -> str:
    """The route template that handled this request, read after routing; ``<unmatched>`` else.

    FastAPI routes name themselves in ``scope["route"]``. A mounted application (static files,
    a sub-application) is labelled by its mount path plus ``/{path}``, and a route inside it is
    prefixed with the mount path. A plain Starlette route is labelled by its fixed path, or by
    its endpoint's name when it has path parameters (prefer FastAPI routes for those).
    """
    root_path: str = scope.get("root_path", "")
    app_root_path: str | None = scope.get("app_root_path")
    prefix = ""
    if app_root_path is not None and len(root_path) > len(app_root_path):
        prefix = root_path[len(app_root_path) :]
    # FastAPI keeps included routers lazily: the matched route's own path lacks the prefixes it
    # was included under, and the full template is on the effective route context.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    full_path = getattr(effective, "path", None)
    if isinstance(full_path, str):
        return prefix + full_path
    route = scope.get("route")
    if route is not None:
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(template, str):
            return template if isinstance(route, Mount) else prefix + template
    if app_root_path is not None:
        return prefix + "/{path}"
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        if not scope.get("path_params"):
            path: str = scope.get("path", "")
            return path[len(root_path) :] if root_path and path.startswith(root_path) else path
        return f"<{getattr(endpoint, '__name__', type(endpoint).__name__)}>"
    return UNMATCHED_ROUTE


def record_rate_limit_rejection(tenant: str | None, scope: str) -> None:
    """Count a request refused by a rate limit (``scope`` names which limit: tenant, api_key...)."""
    RATE_LIMIT_REJECTIONS.labels(tenant or NO_TENANT, scope).inc()


def metrics_endpoint_for(registry: CollectorRegistry = REGISTRY) -> Any:
    """A Starlette endpoint serving ``registry`` in the text format the scraper asks for."""

    async def metrics_endpoint(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        # Rendering walks every series; keep that work off the event loop.
        payload = await run_in_threadpool(encoder, registry)
        return Response(payload, media_type=content_type, headers={"Cache-Control": "no-store"})

    return metrics_endpoint


metrics_endpoint = metrics_endpoint_for(REGISTRY)


def install_metrics_endpoint(app: FastAPI, path: str = "/metrics") -> None:
    """Serve the default registry at ``path`` (outside the OpenAPI schema)."""
    app.add_route(path, metrics_endpoint, methods=["GET"], include_in_schema=False)
