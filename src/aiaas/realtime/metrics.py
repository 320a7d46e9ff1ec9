"""Prometheus metrics of the realtime service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WS_CONNECTIONS = Gauge("aiaas_ws_connections", "Open WebSocket connections on this replica.")
WS_FRAMES_SENT = Counter("aiaas_ws_frames_sent_total", "Frames written to WebSocket clients.")
WS_FRAMES_DROPPED = Counter(
    "aiaas_ws_frames_dropped_total",
    "Non-essential frames dropped because a client's send queue was full.",
    ("type",),
)
WS_TOKENS_COALESCED = Counter(
    "aiaas_ws_tokens_coalesced_total", "Token deltas merged into a queued delta (slow readers)."
)
WS_CLOSED = Counter(
    "aiaas_ws_closed_total", "WebSocket connections closed by the server, by close code.", ("code",)
)
PUBLISH_FAILURES = Counter(
    "aiaas_ws_publish_failures_total", "Frames the fan-out (Redis) did not accept."
)
