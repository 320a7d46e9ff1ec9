"""Event types of the chat domain. Payloads carry ids, roles, counts and money; never message text."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aiaas.events.catalog import event


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@event("chat.conversation.created", 1, "A conversation was started on a channel")
class ConversationCreated(_Payload):
    conversation_id: UUID
    channel: str
    end_user_id: str


@event("chat.conversation.status_changed", 1, "A conversation moved to another status")
class ConversationStatusChanged(_Payload):
    conversation_id: UUID
    previous: str
    status: str
    agent: str | None = None
    reason: str | None = None


@event("chat.message.created", 1, "A message was added to a conversation")
class MessageCreated(_Payload):
    conversation_id: UUID
    message_id: UUID
    role: str
    channel: str
    model: str | None = None
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cost_micros: int = Field(0, ge=0)
    latency_ms: int | None = None
    citations: int = Field(0, ge=0, description="Number of citations")


@event("chat.turn.completed", 1, "The platform answered a customer turn")
class TurnCompleted(_Payload):
    conversation_id: UUID
    status: str
    workflow: str | None = None
    decision_id: str | None = None
    model_tier: str | None = None
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cost_micros: int = Field(0, ge=0)
    latency_ms: int = Field(0, ge=0)
    steps: int = Field(0, ge=0)


@event("chat.feedback.received", 1, "A customer rated a conversation or an answer (router reward)")
class FeedbackReceived(_Payload):
    conversation_id: UUID
    feedback_id: UUID
    message_id: UUID | None = None
    decision_id: str | None = None
    thumbs: int | None = None
    csat: int | None = None
    resolved: bool | None = None


@event(
    "chat.outcome.inferred",
    1,
    "A routed turn's outcome was read from the conversation: a handoff, a re-ask or a resolution"
    " (router reward)",
)
class OutcomeInferred(_Payload):
    conversation_id: UUID
    decision_id: UUID
    signal: str = Field(description="handoff, reask or resolved")


@event("chat.handoff.claimed", 1, "A human agent claimed a waiting conversation")
class HandoffClaimed(_Payload):
    conversation_id: UUID
    agent: str
    waited_ms: int = Field(0, ge=0)


@event("chat.handoff.handed_back", 1, "A human agent gave a conversation back to the bot")
class HandoffHandedBack(_Payload):
    conversation_id: UUID
    agent: str


@event("chat.completion.created", 1, "An OpenAI-compatible completion was served")
class CompletionCreated(_Payload):
    completion_id: str
    model: str
    decision_id: str | None = None
    stream: bool
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cost_micros: int = Field(0, ge=0)
    latency_ms: int = Field(0, ge=0)


@event("chat.webhook.dead_lettered", 1, "An outbound webhook reply exhausted its attempts")
class WebhookDeadLettered(_Payload):
    delivery_id: UUID
    conversation_id: UUID
    attempts: int
    error: str
