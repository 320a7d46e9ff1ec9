"""Prometheus metrics of the events backbone (registered on the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OUTBOX_LAG_SECONDS = Gauge(
    "aiaas_outbox_lag_seconds", "Age of the oldest unpublished outbox event at the last full sweep"
)
OUTBOX_PENDING = Gauge("aiaas_outbox_pending", "Unpublished outbox events at the last full sweep")
EVENTS_PUBLISHED = Counter("aiaas_events_published_total", "Events the relay published to the bus")
CONSUMER_LAG = Gauge(
    "aiaas_consumer_lag", "Messages not yet acknowledged by a durable consumer", ["consumer"]
)
DEAD_LETTERS = Counter("aiaas_dead_letters_total", "Events a consumer dead-lettered", ["consumer"])
EVENTS_CONSUMED = Counter(
    "aiaas_events_consumed_total",
    "Deliveries handled by consumers (outcome: processed, duplicate, failed, dead_lettered)",
    ["consumer", "outcome"],
)
