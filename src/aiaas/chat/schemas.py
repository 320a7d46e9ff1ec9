"""Request and response bodies of the chat API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

Channel = Literal["api", "widget", "webhook", "websocket", "openai"]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_user_id: str = Field(min_length=1, max_length=200, description="The customer's id")
    channel: Channel = "api"
    metadata: dict[str, Any] = Field(default_factory=dict)
    workflow: str | None = Field(
        None, max_length=100, description="Pin a workflow; default: the router chooses per turn"
    )

    @model_validator(mode="after")
    def _small_metadata(self) -> ConversationCreate:
        if len(str(self.metadata)) > 8_000:
            raise ValueError("metadata must stay under 8 KB")
        return self


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant_id: UUID
    channel: str
    end_user_id: str
    metadata: dict[str, Any] = Field(validation_alias="meta")
    status: str
    workflow: str | None
    assigned_agent: str | None
    waiting_since: datetime | None
    handoff_reason: str | None
    last_message_at: datetime | None
    closed_at: datetime | None
    created_at: datetime


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=32_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    conversation_id: UUID
    role: str
    kind: str
    content: str
    author: str | None
    citations: list[dict[str, Any]]
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_micros: int
    latency_ms: int | None
    created_at: datetime


class TurnUsageOut(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0


class TurnOut(BaseModel):
    """What one customer message produced."""

    conversation_id: UUID
    status: str = Field(description="Conversation status after the turn")
    message: MessageOut = Field(description="The customer's message as stored")
    replies: list[MessageOut]
    usage: TurnUsageOut
    latency_ms: int
    workflow: str | None = None
    decision_id: str | None = None
    replayed: bool = Field(False, description="True when answered from an earlier identical send")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: UUID | None = None
    thumbs: Literal[-1, 1] | None = Field(None, description="1 thumbs up, -1 thumbs down")
    csat: int | None = Field(None, ge=1, le=5)
    resolved: bool | None = None
    comment: str | None = Field(None, max_length=2_000)

    @model_validator(mode="after")
    def _something(self) -> FeedbackIn:
        if self.thumbs is None and self.csat is None and self.resolved is None:
            raise ValueError("give at least one of thumbs, csat, resolved")
        return self


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    conversation_id: UUID
    message_id: UUID | None
    thumbs: int | None
    csat: int | None
    resolved: bool | None
    comment: str | None
    created_at: datetime


class AgentReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=20_000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2_000)
