"""Chat settings (mounted as ``Settings.chat``; env ``AIAAS_CHAT__...``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChatSettings(BaseModel):
    """Conversations, channels and the realtime WebSocket service."""

    model_config = {"extra": "forbid"}

    max_message_chars: int = Field(8_000, ge=1, le=32_000, description="Longest customer message")
    history_turns: int = Field(
        20, ge=0, le=200, description="Earlier messages given to the model on each turn"
    )
    idempotency_ttl_seconds: int = Field(
        86_400, ge=60, description="How long an Idempotency-Key answer is kept"
    )
    widget_token_ttl_seconds: int = Field(
        3_600, ge=60, le=86_400, description="Lifetime of a widget visitor session token"
    )
    webhook_tolerance_seconds: int = Field(
        300, ge=10, le=3_600, description="Accepted clock skew of a signed inbound webhook"
    )
    webhook_max_attempts: int = Field(
        5, ge=1, le=20, description="Outbound webhook attempts before the dead-letter list"
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120)
    webhook_backoff_seconds: float = Field(
        1.0, ge=0, description="First retry delay of an outbound webhook (doubles each time)"
    )
    ws_max_message_bytes: int = Field(
        64 * 1024, ge=256, description="Largest client frame; bigger ones close with 1009"
    )
    ws_send_queue: int = Field(
        256, ge=8, le=100_000, description="Events buffered per connection before backpressure"
    )
    ws_slow_consumer_seconds: float = Field(
        5.0, gt=0, description="A connection whose queue stays full this long is closed (1013)"
    )
    ws_heartbeat_seconds: float = Field(
        25.0, gt=0, description="Interval of server pings; two missed pongs close the connection"
    )
