"""The gateway's request metrics collector, read through a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from aiaas.gateway.metrics import DURATION_BUCKETS, HttpRequestCollector


def registry_with(collector: HttpRequestCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_counts_durations_and_requests_in_flight() -> None:
    collector = HttpRequestCollector()
    registry = registry_with(collector)
    route = {"method": "GET", "route": "/api/v1/things/{id}", "tenant": "acme"}
    for _ in range(3):
        collector.started()
    # on a bound, just above it, and past the last bound
    for seconds in (0.001, 0.0011, 11.0):
        collector.finished("GET", "/api/v1/things/{id}", 200, "acme", seconds)
    collector.started()
    collector.finished("GET", "/api/v1/things/{id}", 404, "acme", 0.2)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("aiaas_http_requests_total", status="200", **route) == 3
    assert value("aiaas_http_requests_total", status="404", **route) == 1
    assert value("aiaas_http_requests_in_flight") == 0
    assert value("aiaas_http_request_duration_seconds_count", **route) == 4
    assert value("aiaas_http_request_duration_seconds_sum", **route) == 0.001 + 0.0011 + 11.0 + 0.2
    buckets = {
        bound: value("aiaas_http_request_duration_seconds_bucket", le=str(bound), **route)
        for bound in DURATION_BUCKETS
    }
    assert buckets[0.001] == 1  # a bound is inside its own bucket
    assert buckets[0.0025] == 2
    assert buckets[0.1] == 2
    assert buckets[0.25] == 3
    assert buckets[10.0] == 3
    assert value("aiaas_http_request_duration_seconds_bucket", le="+Inf", **route) == 4
    created = value("aiaas_http_request_duration_seconds_created", **route)
    assert created is not None and created > 0
    assert value("aiaas_http_requests_created", status="404", **route) is not None


def test_in_flight_counts_requests_not_yet_finished() -> None:
    collector = HttpRequestCollector()
    registry = registry_with(collector)
    collector.started()
    collector.started()
    collector.finished("POST", "/x", 201, "-", 0.01)
    assert registry.get_sample_value("aiaas_http_requests_in_flight") == 1


def test_renders_as_the_client_library_metrics_do() -> None:
    collector = HttpRequestCollector()
    collector.started()
    collector.finished("GET", "/healthz", 200, "-", 0.003)
    text = generate_latest(registry_with(collector)).decode()
    assert "# TYPE aiaas_http_requests_total counter" in text
    assert "# TYPE aiaas_http_request_duration_seconds histogram" in text
    assert "# TYPE aiaas_http_requests_in_flight gauge" in text
    assert (
        'aiaas_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",'
        'tenant="-"} 1.0' in text
    )
    assert (
        'aiaas_http_requests_total{method="GET",route="/healthz",status="200",tenant="-"} 1.0'
        in text
    )
