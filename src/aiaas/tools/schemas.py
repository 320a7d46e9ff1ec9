"""API shapes of the tools domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class ToolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    version: str
    description: str
    kind: str
    builtin: bool = False
    manifest: dict[str, Any]
    created_at: datetime | None = None


class ToolList(BaseModel):
    items: list[ToolOut]
    next_cursor: str | None = None


class ToolVersionOut(BaseModel):
    id: UUID
    version: str
    current: bool
    created_at: datetime
    created_by: str | None = None


class ToolVersions(BaseModel):
    name: str
    items: list[ToolVersionOut]
    next_cursor: str | None = None


class ToolCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: dict[str, Any] = Field(default_factory=dict)
    version: str | None = Field(None, max_length=64)


class ToolCallOut(BaseModel):
    tool: str
    version: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float
