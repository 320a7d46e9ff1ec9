"""The human handoff inbox: claim a waiting conversation, answer live, hand back or resolve.

Agent replies are stored and delivered at once; the workflow's handoff interrupt is resumed when
the agent ends the handoff: ``hand_back`` lets the workflow continue, ``resolve`` answers it with
the agent's last reply. Replies the workflow would repeat for the agent are not stored twice.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from aiaas.chat import events as ev
from aiaas.chat.frames import message_frame, status_frame
from aiaas.chat.models import CLOSED, OPEN, RESOLVED, WAITING, WITH_HUMAN, Conversation, Message
from aiaas.chat.repository import ConversationRepository
from aiaas.chat.schemas import ConversationOut, MessageOut
from aiaas.chat.service import (
    ChatService,
    TurnState,
    _absorb,
    add_message,
    change_status,
    load_conversation,
    maybe_await,
)
from aiaas.events.outbox import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.errors import AppError, Conflict
from aiaas.realtime.protocol import conversation_topic, inbox_topic

log = logging.getLogger(__name__)


class NotWaiting(Conflict):
    code, title = "not_waiting_for_human", "The conversation is not waiting for a human"


class ClaimedByAnother(Conflict):
    code, title = "claimed_by_another_agent", "Another agent has this conversation"


class InboxService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat
        self.db = chat.db
        self.hub = chat.hub

    async def request_human(
        self, tenant_id: UUID, conversation_id: UUID, reason: str
    ) -> Conversation:
        async with self.db.transaction(tenant_id) as session:
            conversation = await load_conversation(session, conversation_id)
            if conversation.status in (WAITING, WITH_HUMAN):
                return conversation
            if conversation.status == CLOSED:
                raise NotWaiting("the conversation is closed")
            await change_status(session, conversation, WAITING, reason=reason)
        await self._announce(tenant_id, conversation)
        return conversation

    async def claim(self, tenant_id: UUID, conversation_id: UUID, agent: str) -> Conversation:
        async with self.db.transaction(tenant_id) as session:
            conversation = await ConversationRepository(session).get_for_update(conversation_id)
            if conversation is None:
                conversation = await load_conversation(session, conversation_id)
            if conversation.status == WITH_HUMAN:
                if conversation.assigned_agent != agent:
                    raise ClaimedByAnother(f"{conversation.assigned_agent} has this conversation")
                return conversation
            if conversation.status != WAITING:
                raise NotWaiting(f"the conversation is {conversation.status}")
            waited = utcnow() - (conversation.waiting_since or utcnow())
            conversation.assigned_agent = agent
            await change_status(session, conversation, WITH_HUMAN, agent=agent)
            joined = await add_message(
                session,
                conversation,
                Message(
                    role="system", kind="agent_joined", content=f"{agent} joined", author=agent
                ),
            )
            await record_event(
                session,
                "chat.handoff.claimed",
                ev.HandoffClaimed(
                    conversation_id=conversation.id,
                    agent=agent,
                    waited_ms=max(0, int(waited.total_seconds() * 1000)),
                ),
                subject_type="conversation",
                subject_id=conversation.id,
            )
            frame = message_frame(joined)
        await self.hub.publish(conversation_topic(str(tenant_id), str(conversation_id)), frame)
        await self._announce(tenant_id, conversation)
        return conversation

    async def reply(
        self, tenant_id: UUID, conversation_id: UUID, agent: str, content: str
    ) -> MessageOut:
        async with self.db.transaction(tenant_id) as session:
            conversation = await self._held_by(session, conversation_id, agent)
            message = await add_message(
                session, conversation, Message(role="agent", content=content, author=agent)
            )
            if self.chat.on_reply is not None:
                await self.chat.on_reply(session, conversation, message)
            out = MessageOut.model_validate(message)
        await self.hub.publish(
            conversation_topic(str(tenant_id), str(conversation_id)), message_frame(out)
        )
        return out

    async def hand_back(self, tenant_id: UUID, conversation_id: UUID, agent: str) -> Conversation:
        async with self.db.transaction(tenant_id) as session:
            conversation = await self._held_by(session, conversation_id, agent)
            await record_event(
                session,
                "chat.handoff.handed_back",
                ev.HandoffHandedBack(conversation_id=conversation.id, agent=agent),
                subject_type="conversation",
                subject_id=conversation.id,
            )
        resolution = {"action": "hand_back", "message": "", "agent": agent}
        return await self._end(tenant_id, conversation_id, agent, resolution, OPEN)

    async def resolve(
        self, tenant_id: UUID, conversation_id: UUID, agent: str, note: str | None
    ) -> Conversation:
        async with self.db.transaction(tenant_id) as session:
            conversation = await self._held_by(session, conversation_id, agent)
            last = await _last_agent_reply(session, conversation.id)
        answer = note or last or "Resolved by a support agent."
        resolution = {"action": "answer", "message": answer, "agent": agent}
        return await self._end(tenant_id, conversation_id, agent, resolution, RESOLVED)

    # ---- internals ------------------------------------------------------------------------------
    async def _held_by(self, session: Any, conversation_id: UUID, agent: str) -> Conversation:
        conversation = await load_conversation(session, conversation_id)
        if conversation.status != WITH_HUMAN:
            raise NotWaiting(f"claim the conversation first (it is {conversation.status})")
        if conversation.assigned_agent != agent:
            raise ClaimedByAnother(f"{conversation.assigned_agent} has this conversation")
        return conversation

    async def _end(
        self,
        tenant_id: UUID,
        conversation_id: UUID,
        agent: str,
        resolution: dict[str, Any],
        status: str,
    ) -> Conversation:
        state = await self._resume(tenant_id, conversation_id, resolution)
        frames = []
        async with self.db.transaction(tenant_id) as session:
            conversation = await load_conversation(session, conversation_id)
            for reply in state.replies:
                if reply["role"] == "agent":
                    continue  # the agent's words were delivered live already
                message = await add_message(
                    session,
                    conversation,
                    Message(
                        role="assistant",
                        content=reply["content"],
                        citations=reply.get("citations") or [],
                        model=state.model,
                    ),
                )
                if self.chat.on_reply is not None:
                    await self.chat.on_reply(session, conversation, message)
                frames.append(message_frame(message))
            final = WAITING if state.handoff is not None else status
            await change_status(session, conversation, final, agent=agent)
        topic = conversation_topic(str(tenant_id), str(conversation_id))
        for frame in frames:
            await self.hub.publish(topic, frame)
        await self.hub.publish(topic, status_frame(conversation_id, conversation.status))
        await self._announce(tenant_id, conversation)
        return conversation

    async def _resume(
        self, tenant_id: UUID, conversation_id: UUID, resolution: dict[str, Any]
    ) -> TurnState:
        state = TurnState()
        engine = self.chat.engine
        try:
            pending = await engine.pending_handoff(str(tenant_id), str(conversation_id))
            if not pending:
                return state
            outcome = engine.resume(str(tenant_id), str(conversation_id), resolution)
            if hasattr(outcome, "__aiter__"):
                async for event in outcome:
                    _absorb(state, event, str(conversation_id))
                return state
            result = await maybe_await(outcome)
        except AppError as exc:
            if exc.code == "no_handoff_pending":
                return state
            raise
        data = result.to_dict() if hasattr(result, "to_dict") else dict(result or {})
        for reply in data.get("replies") or []:
            if reply.get("content"):
                state.replies.append(dict(reply))
        if data.get("status") == "waiting_for_agent":
            state.handoff = dict(data.get("handoff") or {})
        return state

    async def _announce(self, tenant_id: UUID, conversation: Conversation) -> None:
        out = ConversationOut.model_validate(conversation).model_dump(mode="json")
        await self.hub.publish(
            inbox_topic(str(tenant_id)),
            status_frame(conversation.id, conversation.status, conversation=out),
        )


async def _last_agent_reply(session: Any, conversation_id: UUID) -> str | None:
    from aiaas.chat.repository import MessageRepository

    for message in reversed(await MessageRepository(session).recent(conversation_id, 50)):
        if message.role == "agent":
            return message.content
    return None
