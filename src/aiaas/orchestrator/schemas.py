"""API shapes of the orchestrator."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class WorkflowSourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200_000, description="The workflow as YAML")
    activate: bool = Field(True, description="Make the new revision the one that runs")


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200_000)


class ValidateOut(BaseModel):
    valid: bool
    name: str
    revision: int
    nodes: int
    tools: list[str]
    subworkflows: list[str]


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(
        None, ge=1, description="Revision to run; omitted: roll back to the previous one"
    )


class WorkflowSummary(BaseModel):
    id: str
    name: str
    origin: Literal["shipped", "tenant"]
    revision: int | None
    active_revision: int | None
    latest_revision: int | None
    description: str
    shipped: bool


class WorkflowList(BaseModel):
    items: list[WorkflowSummary]
    next_cursor: str | None = None


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    revision: int
    digest: str
    created_at: datetime
    created_by: str | None = None
    active: bool = False


class VersionList(BaseModel):
    name: str
    active_revision: int | None
    items: list[VersionOut]
    next_cursor: str | None = None


class WorkflowDetail(BaseModel):
    name: str
    origin: Literal["shipped", "tenant"]
    revision: int | None
    active_revision: int | None
    description: str
    shipped: bool
    source: str | None
    versions: list[VersionOut]


class RunStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=32_000)
    conversation_id: str | None = Field(None, min_length=1, max_length=128)
    workflow: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    model_tier: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    inputs: dict[str, Any] = Field(default_factory=dict)
    stream: bool = Field(False, description="Answer with server-sent events")


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["answer", "hand_back"]
    message: str = Field("", max_length=20_000)
    agent: str | None = Field(None, max_length=200)


class NodeRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    workflow: str
    node: str
    type: str
    status: str
    started_at: datetime
    duration_ms: float | None
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    error: dict[str, Any] | None


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    conversation_id: str
    workflow: str
    revision: int
    source: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    steps: int
    llm_calls: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    stop_reason: str | None
    error: dict[str, Any] | None
    handoff: dict[str, Any] | None
    replies: list[dict[str, Any]]


class RunDetail(RunOut):
    nodes: list[NodeRunOut] = Field(default_factory=list)


class RunList(BaseModel):
    items: list[RunOut]
    next_cursor: str | None = None
