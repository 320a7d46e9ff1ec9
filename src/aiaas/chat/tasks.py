"""Event consumers of the chat domain: what the router learns from conversations.

The router's reward for a routed turn is quality minus lambda x cost. Quality comes from the
customer's explicit feedback (:class:`FeedbackRewardConsumer`) and from what the conversation shows
(:class:`OutcomeRewardConsumer`):

- the conversation goes to a human after a routed turn: that turn failed (``handoff``);
- the customer's next message repeats the previous one soon after: the answer to it failed
  (``reask``);
- the conversation is resolved or closed while the bot holds it: its routed turns that have no
  outcome yet did their job (``resolved``).

The cost is the turn's measured usage (``chat.turn.completed``). Explicit feedback outranks an
inferred outcome (the router replaces one with the other, never counts both); an inferred outcome
never replaces another outcome.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.chat import events as ev
from aiaas.chat.models import CLOSED, OPEN, RESOLVED, WAITING, Message
from aiaas.chat.repository import MessageRepository
from aiaas.events.consumer import Consumer
from aiaas.events.envelope import EventEnvelope, bus_subject
from aiaas.events.outbox import record_event
from aiaas.kit.errors import AppError
from aiaas.kit.pagination import PageParams, encode_cursor
from aiaas.router.config import RouterSettings

log = logging.getLogger(__name__)
FEEDBACK = "chat.feedback.received"
TURN_COMPLETED = "chat.turn.completed"
MESSAGE_CREATED = "chat.message.created"
STATUS_CHANGED = "chat.conversation.status_changed"

ROUTER_DEFAULTS = RouterSettings()
"""The re-ask window and similarity when no settings are given (``AIAAS_ROUTER__REASK_*``)."""

REASK_TYPO_SIMILARITY = 0.85
"""Dice similarity of the character trigrams at which two messages are the same text typed again."""

REASK_LOOKBACK = 20
"""Messages looked through, newest first, for the customer's previous message."""

MAX_RESOLVED_DECISIONS = 200
"""A resolution rewards at most this many of a conversation's routed turns, oldest first."""

# Function words and fillers say nothing about what is asked; "again" and "still" are how a
# re-ask is often phrased, so they must not make two different questions look alike either.
_STOPWORD_TEXT = (
    "a an the and or but so of to in on at for from with by about as is are was were be been am "
    "do does did done have has had can could would should will shall may might must i me my mine "
    "you your we our us it its this that these those there here he she they them their his her "
    "what which who whom how why when where not no yes ok okay please pls thanks thank hi hello "
    "hey again still just also any some get got want need"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def rating_of(payload: dict[str, Any]) -> float | None:
    """Thumbs (-1/1) and CSAT (1-5) as one rating in [0, 1]; ``None`` when neither was given."""
    parts = []
    if payload.get("thumbs") is not None:
        parts.append(1.0 if payload["thumbs"] > 0 else 0.0)
    if payload.get("csat") is not None:
        parts.append((int(payload["csat"]) - 1) / 4)
    return sum(parts) / len(parts) if parts else None


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _content_words(text: str) -> set[str]:
    return {w for w in _words(text) if len(w) > 1 and w not in _STOPWORDS}


def _trigrams(text: str) -> set[str]:
    padded = f"  {' '.join(_words(text))} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(previous: str, current: str) -> float:
    """How much two customer messages ask the same thing, in [0, 1].

    The Jaccard similarity of their content words, or the Dice similarity of their character
    trigrams when that is high (the same text with typos), whichever is higher. A message without
    content words (a greeting, thanks) asks nothing, so it repeats nothing.
    """
    a, b = _content_words(previous), _content_words(current)
    if not a or not b:
        return 0.0
    words = len(a & b) / len(a | b)
    grams_a, grams_b = _trigrams(previous), _trigrams(current)
    dice = 2 * len(grams_a & grams_b) / (len(grams_a) + len(grams_b))
    return max(words, dice if dice >= REASK_TYPO_SIMILARITY else 0.0)


def is_reask(
    previous: Message, current: Message, settings: RouterSettings = ROUTER_DEFAULTS
) -> bool:
    """Whether ``current`` repeats the customer's ``previous`` message within the re-ask window
    (``settings.reask_window_seconds``, similarity at least ``settings.reask_similarity``)."""
    elapsed = current.created_at - previous.created_at
    if elapsed < timedelta(0) or elapsed > timedelta(seconds=settings.reask_window_seconds):
        return False
    return similarity(previous.content, current.content) >= settings.reask_similarity


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


class OutcomeRewardConsumer(Consumer):
    """Turns what happens in a routed conversation into the router's reward: the measured cost of
    each turn, handoffs, re-asks and resolutions (see the module's description)."""

    name = "chat_outcome_reward"

    def __init__(self, chat: Any, namespace: str) -> None:
        self.chat = chat  # the ChatRuntime: its router is wired when the platform starts
        self.subject_filter = bus_subject(namespace, "chat.*.*")

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        router = self.chat.router
        if router is None:
            return
        payload = dict(envelope.payload)
        try:
            if envelope.type == TURN_COMPLETED:
                await self._turn_cost(session, router, payload)
            elif envelope.type == MESSAGE_CREATED and payload.get("role") == "customer":
                await self._reask(session, router, payload)
            elif envelope.type == STATUS_CHANGED:
                await self._status(session, router, envelope, payload)
        except AppError as exc:
            # The decision is gone, or not this tenant's: there is nothing to learn from.
            log.info("outcome of %s %s not applied: %s", envelope.type, envelope.id, exc.code)

    async def _turn_cost(self, session: AsyncSession, router: Any, payload: dict[str, Any]) -> None:
        if payload.get("decision_id"):
            await router.record_turn_cost(
                session, UUID(str(payload["decision_id"])), int(payload.get("cost_micros") or 0)
            )

    async def _reask(self, session: AsyncSession, router: Any, payload: dict[str, Any]) -> None:
        messages = MessageRepository(session)
        current = await messages.get(UUID(str(payload["message_id"])))
        if current is None or current.role != "customer":
            return
        previous = await _previous_customer_message(messages, current)
        if previous is None or not is_reask(previous, current, self.chat.settings.router):
            return
        conversation = str(current.conversation_id)
        # The decision that answered the previous message: made after it, before the repeat.
        decision = await router.conversation_decision(
            session, conversation, since=previous.created_at, until=current.created_at
        )
        if decision is not None:
            await self._infer(session, router, current.conversation_id, decision, "reask")

    async def _status(
        self,
        session: AsyncSession,
        router: Any,
        envelope: EventEnvelope,
        payload: dict[str, Any],
    ) -> None:
        conversation = UUID(str(payload["conversation_id"]))
        status, previous = payload.get("status"), payload.get("previous")
        at: datetime = envelope.occurred_at
        if status == WAITING and previous in (OPEN, RESOLVED):
            decision = await router.conversation_decision(session, str(conversation), until=at)
            if decision is not None:
                await self._infer(session, router, conversation, decision, "handoff")
        elif status in (RESOLVED, CLOSED) and previous == OPEN:
            pending = await router.decisions_without_outcome(
                session, str(conversation), until=at, limit=MAX_RESOLVED_DECISIONS
            )
            for decision in pending:
                await self._infer(session, router, conversation, decision, "resolved")

    async def _infer(
        self,
        session: AsyncSession,
        router: Any,
        conversation: UUID,
        decision: UUID,
        signal: str,
    ) -> None:
        if signal == "handoff":
            result = await router.implicit_feedback(session, decision, handoff=True)
        elif signal == "reask":
            result = await router.implicit_feedback(session, decision, reask=True)
        else:
            result = await router.implicit_feedback(session, decision, resolved=True, reask=False)
        if result is None:
            return  # the decision already has an outcome, which stands
        await record_event(
            session,
            "chat.outcome.inferred",
            ev.OutcomeInferred(conversation_id=conversation, decision_id=decision, signal=signal),
            subject_type="conversation",
            subject_id=conversation,
        )


async def _previous_customer_message(
    messages: MessageRepository, current: Message
) -> Message | None:
    """The customer's message before ``current`` in its conversation (ids are time-ordered)."""
    older, _ = await messages.history(
        current.conversation_id,
        PageParams(limit=REASK_LOOKBACK, cursor=encode_cursor(current.id)),
    )
    return next((m for m in older if m.role == "customer"), None)
