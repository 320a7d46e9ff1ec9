"""Realtime frames built from stored chat objects (the protocol is in docs/chat.md)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiaas.chat.models import Message
from aiaas.chat.schemas import MessageOut


def message_frame(message: MessageOut | Message) -> dict[str, Any]:
    """A stored message; its id is the event id a reconnecting client resumes after."""
    out = message if isinstance(message, MessageOut) else MessageOut.model_validate(message)
    body = out.model_dump(mode="json")
    kind = body.get("kind")
    frame_type = "agent.joined" if kind == "agent_joined" else "message"
    return {
        "type": frame_type,
        "id": body["id"],
        "conversation_id": body["conversation_id"],
        "message": body,
    }


def status_frame(conversation_id: UUID, status: str, **extra: Any) -> dict[str, Any]:
    return {"type": "status", "conversation_id": str(conversation_id), "status": status, **extra}
