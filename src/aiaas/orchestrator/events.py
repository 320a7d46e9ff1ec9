"""Event types of the orchestrator: workflow versions and runs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiaas.events.catalog import event


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@event("orchestrator.workflow.uploaded", 1, "A tenant uploaded a new revision of a workflow")
class WorkflowUploaded(_Payload):
    name: str
    revision: int
    digest: str
    activated: bool


@event("orchestrator.workflow.activated", 1, "A revision of a workflow became the one that runs")
class WorkflowActivated(_Payload):
    name: str
    revision: int
    previous_revision: int | None = None


@event("orchestrator.workflow.deleted", 1, "A tenant removed its workflow (a shipped one applies)")
class WorkflowDeleted(_Payload):
    name: str


class _RunPayload(_Payload):
    run_id: str
    conversation_id: str
    workflow: str
    revision: int
    kind: str


@event("orchestrator.run.started", 1, "A workflow run started for a conversation turn")
class RunStarted(_RunPayload):
    pass


class _RunEnded(_RunPayload):
    status: str
    duration_ms: int
    steps: int
    llm_calls: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_micros: int = Field(description="Integer micro-dollars")
    stop_reason: str | None = None
    error: dict[str, Any] | None = None


@event("orchestrator.run.completed", 1, "A workflow run finished normally")
class RunCompleted(_RunEnded):
    pass


@event("orchestrator.run.failed", 1, "A workflow run failed (a node error without on_error)")
class RunFailed(_RunEnded):
    compensations: list[dict[str, Any]] = Field(default_factory=list)


@event("orchestrator.run.stopped", 1, "A workflow run hit a limit (steps, tokens, cost, time)")
class RunStopped(_RunEnded):
    pass


@event("orchestrator.run.interrupted", 1, "A workflow run waits for a human agent (handoff)")
class RunInterrupted(_RunEnded):
    handoff: dict[str, Any] = Field(default_factory=dict)


@event("orchestrator.run.cancelled", 1, "A workflow run was cancelled")
class RunCancelled(_RunPayload):
    previous_status: str
