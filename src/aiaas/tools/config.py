"""Tool settings (``Settings.orchestrator.tools``; env ``AIAAS_ORCHESTRATOR__TOOLS__...``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

DEMO_STORE_ORIGIN = "http://demo-store.internal"
"""Reserved origin of the demo store API; served in process, never resolved on the network."""


class ToolSettings(BaseModel):
    model_config = {"extra": "forbid"}

    default_timeout_seconds: float = Field(10.0, gt=0, le=300)
    max_timeout_seconds: float = Field(
        60.0, gt=0, le=600, description="Cap on a manifest's timeout"
    )
    max_retries: int = Field(3, ge=0, le=10, description="Cap on a manifest's retries")
    retry_initial_backoff_seconds: float = Field(0.2, ge=0)
    retry_max_backoff_seconds: float = Field(5.0, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_recovery_seconds: float = Field(30.0, ge=0)
    max_concurrent_calls: int = Field(
        16, ge=1, description="Bulkhead: calls of one tool of one tenant running at once"
    )
    max_waiting_calls: int = Field(32, ge=0, description="Bulkhead: calls queued for a slot")
    max_response_bytes: int = Field(1_000_000, ge=1_024, description="Larger responses fail")
    allowed_schemes: list[str] = Field(default_factory=lambda: ["https", "http"])
    demo_store: bool = Field(True, description="Serve the demo store API under /demo-store")
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Header secrets by "<tenant id>/<name>", referenced as {secret:name}',
    )
