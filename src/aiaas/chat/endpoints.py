"""HTTP routes of conversations: create, send (JSON or SSE), history, feedback, close."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import StreamingResponse

from aiaas.chat import events as ev
from aiaas.chat.dependencies import ChatDep, TenantConversation
from aiaas.chat.frames import status_frame
from aiaas.chat.models import CLOSED, STATUSES, Feedback
from aiaas.chat.repository import ConversationRepository, FeedbackRepository, MessageRepository
from aiaas.chat.schemas import (
    ConversationCreate,
    ConversationOut,
    FeedbackIn,
    FeedbackOut,
    MessageIn,
    MessageOut,
    TurnOut,
)
from aiaas.chat.service import change_status, create_conversation
from aiaas.chat.sse import SSE_MEDIA_TYPE, detach, turn_events, wants_sse
from aiaas.events.outbox import record_event
from aiaas.kit.errors import BadRequest
from aiaas.kit.pagination import Page, PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.realtime.protocol import conversation_topic
from aiaas.tenancy.dependencies import TenantSession, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, prefix="/chat", tags=["chat"])
PageDep = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Principal, require("chat:read")]
Writer = Annotated[Principal, require("chat:write")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying a send with the same key returns the first answer; never two",
    ),
]


@router.post("/conversations", response_model=ConversationOut, status_code=status.HTTP_201_CREATED)
async def start_conversation(
    body: ConversationCreate, session: TenantSession, _: Writer
) -> ConversationOut:
    """Start a conversation for an end user on a channel."""
    return ConversationOut.model_validate(await create_conversation(session, body))


@router.get("/conversations", response_model=Page[ConversationOut])
async def list_conversations(
    session: TenantSession,
    page: PageDep,
    _: Reader,
    status_: Annotated[str | None, Query(alias="status")] = None,
    end_user_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ConversationOut]:
    """Conversations, newest first, optionally by status or end user."""
    if status_ is not None and status_ not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
    rows, cursor = await ConversationRepository(session).list_page(
        page, status=status_, end_user_id=end_user_id
    )
    return Page(items=[ConversationOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation: TenantConversation, _: Reader) -> ConversationOut:
    return ConversationOut.model_validate(conversation)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=TurnOut,
    responses={200: {"content": {SSE_MEDIA_TYPE: {}}}},
)
async def send_message(
    conversation: TenantConversation,
    body: MessageIn,
    request: Request,
    chat: ChatDep,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Send the customer's message and get the answer: JSON, or SSE with ``Accept:
    text/event-stream`` (``token`` deltas, a ``message`` per reply, then ``done``)."""
    assert principal.tenant_id is not None
    frames = chat.service.turn(
        principal.tenant_id, conversation.id, body.content, idempotency_key=idempotency_key
    )
    if not wants_sse(request.headers.get("accept")):
        async for frame in frames:
            if frame["type"] == "turn":
                return TurnOut.model_validate(frame["result"])
    # The first step runs before the response starts, so a refused send is a proper error status.
    first = await anext(frames)
    return StreamingResponse(
        turn_events(first, detach(frames)),
        media_type=SSE_MEDIA_TYPE,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


@router.get("/conversations/{conversation_id}/messages", response_model=Page[MessageOut])
async def history(
    conversation: TenantConversation, session: TenantSession, page: PageDep, _: Reader
) -> Page[MessageOut]:
    """Messages, newest first; follow ``next_cursor`` for older ones."""
    rows, cursor = await MessageRepository(session).history(conversation.id, page)
    return Page(items=[MessageOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/conversations/{conversation_id}/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
)
async def give_feedback(
    conversation: TenantConversation, body: FeedbackIn, session: TenantSession, _: Writer
) -> FeedbackOut:
    """Thumbs, CSAT (1-5) or resolved flag; becomes a router reward event."""
    if body.message_id is not None:
        message = await MessageRepository(session).get(body.message_id)
        if message is None or message.conversation_id != conversation.id:
            raise BadRequest("message_id is not a message of this conversation", code="bad_message")
    feedback = await FeedbackRepository(session).add(
        Feedback(
            conversation_id=conversation.id,
            message_id=body.message_id,
            thumbs=body.thumbs,
            csat=body.csat,
            resolved=body.resolved,
            comment=body.comment,
        )
    )
    decision = (conversation.meta or {}).get("last_decision_id")
    await record_event(
        session,
        "chat.feedback.received",
        ev.FeedbackReceived(
            conversation_id=conversation.id,
            feedback_id=feedback.id,
            message_id=body.message_id,
            decision_id=str(decision) if decision else None,
            thumbs=body.thumbs,
            csat=body.csat,
            resolved=body.resolved,
        ),
        subject_type="conversation",
        subject_id=conversation.id,
    )
    return FeedbackOut.model_validate(feedback)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close_conversation(
    conversation: TenantConversation, session: TenantSession, chat: ChatDep, principal: Writer
) -> ConversationOut:
    """Close the conversation; later sends are refused (409)."""
    await change_status(session, conversation, CLOSED)
    out = ConversationOut.model_validate(conversation)
    await chat.hub.publish(
        conversation_topic(str(principal.tenant_id), str(conversation.id)),
        status_frame(conversation.id, CLOSED),
    )
    return out


@router.post("/conversations/{conversation_id}/handoff", response_model=ConversationOut)
async def request_human(
    conversation: TenantConversation, chat: ChatDep, principal: Writer
) -> ConversationOut:
    """Ask for a human agent: the conversation joins the inbox queue."""
    assert principal.tenant_id is not None
    updated = await chat.inbox.request_human(
        principal.tenant_id, conversation.id, "customer asked for a human"
    )
    return ConversationOut.model_validate(updated)
