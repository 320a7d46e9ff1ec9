"""Event consumers of the chat domain."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events.consumer import Consumer
from aiaas.events.envelope import EventEnvelope, bus_subject
from aiaas.kit.errors import AppError

log = logging.getLogger(__name__)
FEEDBACK = "chat.feedback.received"


def rating_of(payload: dict[str, Any]) -> float | None:
    """Thumbs (-1/1) and CSAT (1-5) as one rating in [0, 1]; ``None`` when neither was given."""
    parts = []
    if payload.get("thumbs") is not None:
        parts.append(1.0 if payload["thumbs"] > 0 else 0.0)
    if payload.get("csat") is not None:
        parts.append((int(payload["csat"]) - 1) / 4)
    return sum(parts) / len(parts) if parts else None


class FeedbackRewardConsumer(Consumer):
    """Turns customer feedback on a routed conversation into the router's reward."""

    name = "chat_feedback_reward"

    def __init__(self, chat: Any, namespace: str) -> None:
        self.chat = chat  # the ChatRuntime: its router is wired when the platform starts
        self.subject_filter = bus_subject(namespace, FEEDBACK)

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        if envelope.type != FEEDBACK:
            return
        payload = dict(envelope.payload)
        router = self.chat.router
        if not payload.get("decision_id") or router is None:
            return
        try:
            await router.feedback(
                session,
                UUID(str(payload["decision_id"])),
                rating=rating_of(payload),
                resolved=payload.get("resolved"),
            )
        except AppError as exc:
            # Feedback already counted, or its decision gone: nothing more to learn.
            log.info("feedback %s not applied: %s", payload.get("feedback_id"), exc.code)
