"""Conversations and customer turns: persist, route, run the workflow, persist the answer, publish.

A turn is a short transaction that stores the customer's message (and claims the Idempotency-Key)
with the router's decision for it, the workflow run outside any transaction (tokens stream to the caller and to the conversation's
realtime topic as they come), and a second short transaction that stores the replies with their
usage, cost and latency and the conversation's new status, each with its events.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.chat import events as ev
from aiaas.chat.config import ChatSettings
from aiaas.chat.frames import message_frame, status_frame
from aiaas.chat.models import (
    CLOSED,
    OPEN,
    RESOLVED,
    WAITING,
    WITH_HUMAN,
    Conversation,
    IdempotentSend,
    Message,
)
from aiaas.chat.ports import ModelRouter, TurnEngine
from aiaas.chat.repository import ConversationRepository, IdempotencyRepository, MessageRepository
from aiaas.chat.schemas import ConversationCreate, MessageOut, TurnOut, TurnUsageOut
from aiaas.events.outbox import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.db import Database
from aiaas.kit.errors import AppError, BadRequest, Conflict, NotFound
from aiaas.realtime.hub import Hub
from aiaas.realtime.protocol import conversation_topic, inbox_topic

log = logging.getLogger(__name__)


class ConversationClosed(Conflict):
    code, title = "conversation_closed", "Conversation closed"


class IdempotencyInProgress(Conflict):
    code, title = "idempotency_in_progress", "A send with this Idempotency-Key is in progress"


class IdempotencyKeyReused(AppError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key used for another request"


class TurnFailed(AppError):
    status, code, title = 502, "turn_failed", "The assistant could not answer"


async def load_conversation(session: AsyncSession, conversation_id: UUID) -> Conversation:
    found = await ConversationRepository(session).get(conversation_id)
    if found is None:
        raise NotFound("no such conversation", code="conversation_not_found")
    return found


async def create_conversation(session: AsyncSession, body: ConversationCreate) -> Conversation:
    conversation = await ConversationRepository(session).add(
        Conversation(
            channel=body.channel,
            end_user_id=body.end_user_id,
            meta=body.metadata,
            workflow=body.workflow,
            status=OPEN,
        )
    )
    await record_event(
        session,
        "chat.conversation.created",
        ev.ConversationCreated(
            conversation_id=conversation.id,
            channel=conversation.channel,
            end_user_id=conversation.end_user_id,
        ),
        subject_type="conversation",
        subject_id=conversation.id,
    )
    return conversation


async def change_status(
    session: AsyncSession,
    conversation: Conversation,
    status: str,
    *,
    agent: str | None = None,
    reason: str | None = None,
) -> None:
    previous = conversation.status
    if previous == status:
        return
    conversation.status = status
    now = utcnow()
    if status == WAITING:
        conversation.waiting_since = now
        conversation.handoff_reason = reason
    if status in (OPEN, RESOLVED, CLOSED):
        conversation.assigned_agent = None if status == OPEN else conversation.assigned_agent
        conversation.waiting_since = None
    if status == CLOSED:
        conversation.closed_at = now
    await session.flush()
    await record_event(
        session,
        "chat.conversation.status_changed",
        ev.ConversationStatusChanged(
            conversation_id=conversation.id,
            previous=previous,
            status=status,
            agent=agent,
            reason=reason,
        ),
        subject_type="conversation",
        subject_id=conversation.id,
    )


async def add_message(
    session: AsyncSession, conversation: Conversation, message: Message
) -> Message:
    message.conversation_id = conversation.id
    stored = await MessageRepository(session).add(message)
    conversation.last_message_at = stored.created_at
    await record_event(
        session,
        "chat.message.created",
        ev.MessageCreated(
            conversation_id=conversation.id,
            message_id=stored.id,
            role=stored.role,
            channel=conversation.channel,
            model=stored.model,
            input_tokens=stored.input_tokens,
            output_tokens=stored.output_tokens,
            cost_micros=stored.cost_micros,
            latency_ms=stored.latency_ms,
            citations=len(stored.citations or []),
        ),
        subject_type="conversation",
        subject_id=conversation.id,
    )
    return stored


def fingerprint(conversation_id: UUID, content: str) -> str:
    return hashlib.sha256(f"{conversation_id}\n{content}".encode()).hexdigest()


@dataclass
class TurnState:
    """What the workflow said and spent during one turn."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    handoff: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    model: str | None = None
    steps: int = 0
    status: str = "completed"


class ChatService:
    """Customer turns for every channel (REST, SSE, WebSocket, webhook)."""

    def __init__(
        self,
        db: Database,
        settings: ChatSettings,
        engine: TurnEngine,
        hub: Hub,
        router: ModelRouter | None = None,
        on_reply: Any = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.engine = engine
        self.hub = hub
        self.router = router
        self.on_reply = on_reply  # async (session, conversation, message) for outbound channels

    async def turn(
        self,
        tenant_id: UUID,
        conversation_id: UUID,
        content: str,
        *,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Frames of one customer turn: ``token`` deltas as they come, then a final ``turn`` frame
        whose ``result`` is the :class:`TurnOut` as JSON."""
        if len(content) > self.settings.max_message_chars:
            raise BadRequest(
                f"message longer than {self.settings.max_message_chars} characters",
                code="message_too_long",
            )
        started = time.perf_counter()
        claimed = await self._store_customer_message(
            tenant_id, conversation_id, content, idempotency_key
        )
        if isinstance(claimed, TurnOut):
            yield {"type": "turn", "result": claimed.model_dump(mode="json")}
            return
        conversation, customer, history, decision = claimed
        topic = conversation_topic(str(tenant_id), str(conversation_id))
        await self.hub.publish(topic, message_frame(customer))
        if conversation.status in (WAITING, WITH_HUMAN):
            result = TurnOut(
                conversation_id=conversation.id,
                status=conversation.status,
                message=MessageOut.model_validate(customer),
                replies=[],
                usage=TurnUsageOut(),
                latency_ms=int((time.perf_counter() - started) * 1000),
            )
            await self._finish_idempotency(tenant_id, idempotency_key, result)
            yield {"type": "turn", "result": result.model_dump(mode="json")}
            return
        workflow = conversation.workflow or _attr(decision, "workflow")
        tier = _attr(decision, "tier")
        state = TurnState(model=_attr(decision, "model"))
        stream_id = str(customer.id)
        try:
            async for event in self.engine.stream_turn(
                str(tenant_id),
                str(conversation_id),
                content,
                workflow=workflow,
                model_tier=tier,
                context={
                    "channel": conversation.channel,
                    "end_user_id": conversation.end_user_id,
                    "metadata": conversation.meta,
                    "history": history,
                },
            ):
                frame = _absorb(state, event, stream_id)
                if frame is not None:
                    await self.hub.publish(topic, frame)
                    yield frame
        except AppError as exc:
            if exc.code != "handoff_pending":
                await self._release_idempotency(tenant_id, idempotency_key)
                raise
            state.status = "waiting_for_agent"
        except Exception as exc:
            log.exception("turn failed in conversation %s", conversation_id)
            await self._release_idempotency(tenant_id, idempotency_key)
            raise TurnFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
        latency_ms = int((time.perf_counter() - started) * 1000)
        result = await self._store_replies(
            tenant_id, conversation_id, customer, state, latency_ms, workflow, decision, tier
        )
        await self._finish_idempotency(tenant_id, idempotency_key, result)
        for reply in result.replies:
            await self.hub.publish(topic, message_frame(reply))
        await self.hub.publish(
            topic,
            {
                "type": "message.done",
                "stream": stream_id,
                "conversation_id": str(conversation_id),
                "status": result.status,
                "usage": result.usage.model_dump(),
            },
        )
        if result.status == WAITING:
            await self.hub.publish(
                inbox_topic(str(tenant_id)), status_frame(conversation_id, WAITING)
            )
        yield {"type": "turn", "result": result.model_dump(mode="json")}

    async def run(
        self,
        tenant_id: UUID,
        conversation_id: UUID,
        content: str,
        *,
        idempotency_key: str | None = None,
    ) -> TurnOut:
        """The turn without streaming: its result."""
        async for frame in self.turn(
            tenant_id, conversation_id, content, idempotency_key=idempotency_key
        ):
            if frame["type"] == "turn":
                return TurnOut.model_validate(frame["result"])
        raise TurnFailed("the turn produced no result")

    # ---- steps ----------------------------------------------------------------------------------
    async def _store_customer_message(
        self, tenant_id: UUID, conversation_id: UUID, content: str, key: str | None
    ) -> TurnOut | tuple[Conversation, MessageOut, list[dict[str, Any]], Any]:
        """Store the customer's message and, when the turn goes to the bot, the router's decision
        for it (one transaction: the decision's reads are cached, so it only adds its rows)."""
        try:
            async with self.db.transaction(tenant_id) as session:
                conversation = await load_conversation(session, conversation_id)
                if key is not None:
                    replay = await self._claim(session, conversation, content, key)
                    if replay is not None:
                        return replay
                if conversation.status == CLOSED:
                    raise ConversationClosed("the conversation is closed")
                if conversation.status == RESOLVED:
                    await change_status(session, conversation, OPEN, reason="customer wrote again")
                messages = MessageRepository(session)
                earlier = await messages.recent(conversation.id, self.settings.history_turns)
                customer = await add_message(
                    session, conversation, Message(role="customer", content=content)
                )
                history = [{"role": m.role, "content": m.content} for m in earlier]
                decision = None
                to_bot = conversation.status not in (WAITING, WITH_HUMAN)
                if self.router is not None and not conversation.workflow and to_bot:
                    decision = await self.router.decide(
                        session,
                        tenant_id,
                        content,
                        conversation_id=str(conversation.id),
                        turn=await messages.count_customer_turns(conversation.id),
                        customer_tier=(conversation.meta or {}).get("customer_tier"),
                        retrieval_confidence=None,
                    )
                return conversation, MessageOut.model_validate(customer), history, decision
        except IntegrityError:
            # Another request claimed the same key between our read and our insert.
            raise IdempotencyInProgress("a send with this Idempotency-Key is in progress") from None

    async def _claim(
        self, session: AsyncSession, conversation: Conversation, content: str, key: str
    ) -> TurnOut | None:
        repo = IdempotencyRepository(session)
        existing = await repo.by_key(key)
        print_ = fingerprint(conversation.id, content)
        if existing is not None and existing.created_at < utcnow() - timedelta(
            seconds=self.settings.idempotency_ttl_seconds
        ):
            await repo.delete(existing)  # expired: the key starts afresh
            existing = None
        if existing is not None:
            if existing.fingerprint != print_:
                raise IdempotencyKeyReused("this Idempotency-Key was used for another message")
            if existing.response is None:
                raise IdempotencyInProgress("a send with this Idempotency-Key is in progress")
            replay = TurnOut.model_validate(existing.response)
            return replay.model_copy(update={"replayed": True})
        await repo.add(IdempotentSend(key=key, fingerprint=print_, conversation_id=conversation.id))
        return None

    async def _finish_idempotency(self, tenant_id: UUID, key: str | None, result: TurnOut) -> None:
        if key is None:
            return
        async with self.db.transaction(tenant_id) as session:
            repo = IdempotencyRepository(session)
            row = await repo.by_key(key)
            if row is not None:
                row.response = result.model_dump(mode="json")
            await repo.purge_before(
                utcnow() - timedelta(seconds=self.settings.idempotency_ttl_seconds)
            )

    async def _release_idempotency(self, tenant_id: UUID, key: str | None) -> None:
        if key is None:
            return
        async with self.db.transaction(tenant_id) as session:
            repo = IdempotencyRepository(session)
            row = await repo.by_key(key)
            if row is not None and row.response is None:
                await repo.delete(row)

    async def _store_replies(
        self,
        tenant_id: UUID,
        conversation_id: UUID,
        customer: MessageOut,
        state: TurnState,
        latency_ms: int,
        workflow: str | None,
        decision: Any,
        tier: str | None,
    ) -> TurnOut:
        async with self.db.transaction(tenant_id) as session:
            conversation = await load_conversation(session, conversation_id)
            stored: list[MessageOut] = []
            last = len(state.replies) - 1
            for index, reply in enumerate(state.replies):
                charged = index == last  # the turn's usage is carried by its final reply
                message = await add_message(
                    session,
                    conversation,
                    Message(
                        role=reply["role"],
                        content=reply["content"],
                        author=reply.get("agent"),
                        citations=reply.get("citations") or [],
                        model=state.model if reply["role"] == "assistant" else None,
                        input_tokens=state.input_tokens if charged else 0,
                        output_tokens=state.output_tokens if charged else 0,
                        cost_micros=state.cost_micros if charged else 0,
                        latency_ms=latency_ms,
                    ),
                )
                if self.on_reply is not None:
                    await self.on_reply(session, conversation, message)
                stored.append(MessageOut.model_validate(message))
            if state.status == "waiting_for_agent" or state.handoff is not None:
                reason = (state.handoff or {}).get("reason")
                await change_status(session, conversation, WAITING, reason=reason)
            decision_id = _attr(decision, "id")
            await record_event(
                session,
                "chat.turn.completed",
                ev.TurnCompleted(
                    conversation_id=conversation.id,
                    status=conversation.status,
                    workflow=workflow,
                    decision_id=str(decision_id) if decision_id is not None else None,
                    model_tier=tier,
                    input_tokens=state.input_tokens,
                    output_tokens=state.output_tokens,
                    cost_micros=state.cost_micros,
                    latency_ms=latency_ms,
                    steps=state.steps,
                ),
                subject_type="conversation",
                subject_id=conversation.id,
            )
            if decision_id is not None:
                meta = dict(conversation.meta or {})
                meta["last_decision_id"] = str(decision_id)
                conversation.meta = meta
            return TurnOut(
                conversation_id=conversation.id,
                status=conversation.status,
                message=customer,
                replies=stored,
                usage=TurnUsageOut(
                    input_tokens=state.input_tokens,
                    output_tokens=state.output_tokens,
                    cost_micros=state.cost_micros,
                ),
                latency_ms=latency_ms,
                workflow=workflow,
                decision_id=str(decision_id) if decision_id is not None else None,
            )


def _attr(obj: Any, name: str) -> Any:
    return getattr(obj, name, None) if obj is not None else None


def _absorb(state: TurnState, event: Any, stream_id: str) -> dict[str, Any] | None:
    """Fold a workflow event into the turn; the frame to stream for it, if any."""
    data = dict(event.data or {})
    if event.type == "token":
        return {"type": "token", "stream": stream_id, "delta": str(data.get("text", ""))}
    if event.type == "message":
        content = str(data.get("content") or "")
        if content:
            role = data.get("role") if data.get("role") in ("assistant", "agent") else "assistant"
            state.replies.append(
                {
                    "role": role,
                    "content": content,
                    "citations": list(data.get("citations") or []),
                    "agent": data.get("agent"),
                }
            )
    elif event.type == "handoff.requested":
        state.handoff = data
        return {"type": "handoff", "stream": stream_id, "reason": data.get("reason")}
    elif event.type == "node.started":
        state.steps += 1
    elif event.type == "node.completed":
        state.input_tokens += int(data.get("input_tokens") or 0)
        state.output_tokens += int(data.get("output_tokens") or 0)
        state.cost_micros += int(data.get("cost_micros") or 0)
        if data.get("model"):
            state.model = str(data["model"])
    elif event.type == "run.finished":
        status = data.get("status")
        if status == "waiting_for_agent":
            state.status = status
            state.handoff = state.handoff or dict(data.get("handoff") or {})
        elif status in ("stopped", "failed") and not state.replies:
            raise TurnFailed(str(data.get("stop_reason") or status))
    return None


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
