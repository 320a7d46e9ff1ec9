"""Prometheus metrics of the HTTP gateway and the ``/metrics`` endpoint that serves them.

Labels stay bounded: ``route`` is the matched route template (``/api/v1/users/{user_id}``),
never the raw path; ``method`` is one of the known HTTP methods or ``_OTHER``.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

import prometheus_client.metrics
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
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

RATE_LIMIT_REJECTIONS = Counter(
    "aiaas_rate_limit_rejections_total",
    "Requests rejected by a rate limit, by tenant and limit scope (tenant, api_key, login, ...).",
    ("tenant", "scope"),
)


_DURATION_LABELS = ("method", "route", "tenant")


class HttpRequestCollector(Collector):
    """The gateway's request metrics, kept as plain numbers and turned into Prometheus families
    when scraped.

    ``aiaas_http_requests_total``, ``aiaas_http_request_duration_seconds`` and
    ``aiaas_http_requests_in_flight`` change on every request. As client library metrics each
    request took five locks and a walk over the histogram's buckets in Python; here it takes one
    lock, and the cumulative buckets are summed only when Prometheus asks.
    """

    def __init__(self, buckets: Sequence[float] = DURATION_BUCKETS) -> None:
        self._bounds = tuple(float(bound) for bound in buckets)
        self._bucket_labels = [*(floatToGoString(bound) for bound in self._bounds), "+Inf"]
        self._lock = threading.Lock()
        # Each series also keeps when it first counted (the client library's ``_created``).
        # per (method, route, status, tenant): [count, created]
        self._requests: dict[tuple[str, str, int, str], list[float]] = {}
        # per (method, route, tenant): a count per bucket (the last for +Inf), the sum, created
        self._durations: dict[tuple[str, str, str], list[float]] = {}
        self._in_flight = 0

    def started(self) -> None:
        """A request began."""
        with self._lock:
            self._in_flight += 1

    def finished(self, method: str, route: str, status: int, tenant: str, seconds: float) -> None:
        """A request ended with ``status`` after ``seconds``."""
        bucket = bisect_left(self._bounds, seconds)
        with self._lock:
            self._in_flight -= 1
            counter = self._requests.get((method, route, status, tenant))
            if counter is None:
                counter = self._requests[(method, route, status, tenant)] = [0, time.time()]
            counter[0] += 1
            series = self._durations.get((method, route, tenant))
            if series is None:
                series = [0.0] * (len(self._bounds) + 2) + [time.time()]
                self._durations[(method, route, tenant)] = series
            series[bucket] += 1
            series[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        """The three families, as the client library's Counter, Histogram and Gauge render them."""
        with self._lock:
            requests = [(key, list(counter)) for key, counter in self._requests.items()]
            durations = [(key, list(series)) for key, series in self._durations.items()]
            in_flight = self._in_flight
        # PROMETHEUS_DISABLE_CREATED_SERIES turns these off for the library's metrics too
        with_created = getattr(prometheus_client.metrics, "_use_created", True)
        total = CounterMetricFamily(
            "aiaas_http_requests",
            "HTTP requests answered, by route template, status and tenant.",
            labels=("method", "route", "status", "tenant"),
        )
        for (method, route, status, tenant), (count, created) in requests:
            total.add_metric(
                (method, route, str(status), tenant),
                count,
                created=created if with_created else None,
            )
        histogram = HistogramMetricFamily(
            "aiaas_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response.",
            labels=_DURATION_LABELS,
        )
        for labels, series in durations:
            *counts, total_seconds, created = series
            cumulative = list(accumulate(counts))
            histogram.add_metric(
                labels, list(zip(self._bucket_labels, cumulative, strict=True)), total_seconds
            )
            if with_created:
                histogram.samples.append(
                    Sample(
                        histogram.name + "_created",
                        dict(zip(_DURATION_LABELS, labels, strict=True)),
                        created,
                    )
                )
        yield total
        yield histogram
        yield GaugeMetricFamily(
            "aiaas_http_requests_in_flight", "HTTP requests being handled right now.", in_flight
        )


HTTP_REQUEST_METRICS = HttpRequestCollector()
REGISTRY.register(HTTP_REQUEST_METRICS)


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
