"""Orchestrator settings (mounted as ``Settings.orchestrator``; env ``AIAAS_ORCHESTRATOR__...``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from aiaas.tools.config import ToolSettings


class OrchestratorSettings(BaseModel):
    """How workflows run: checkpoints, caches, per-tenant limits, and the tools they call."""

    model_config = {"extra": "forbid"}

    checkpoint_url: str | None = Field(
        None,
        description="Checkpointer database (default: the app's database); memory:// keeps threads "
        "in process",
    )
    compiled_cache_size: int = Field(256, ge=1, le=100_000, description="Compiled graphs kept")
    max_concurrent_runs_per_tenant: int = Field(
        20, ge=1, le=10_000, description="Turns of one tenant running at once in one process"
    )
    run_events_kept: int = Field(
        500,
        ge=0,
        le=10_000,
        description="Events stored with each run for replay (token deltas excluded)",
    )
    record_run_start_after_seconds: float = Field(
        0.25,
        ge=0,
        le=60,
        description="A turn's run row and start event are written this long into the run, or with "
        "its end if it ends sooner (0: at once, in a transaction of their own)",
    )
    knowledge_k_max: int = Field(20, ge=1, le=100, description="Largest k a workflow may search")
    tools: ToolSettings = Field(default_factory=ToolSettings)
