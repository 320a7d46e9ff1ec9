"""HTTP routes of the human handoff inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from aiaas.chat.dependencies import ChatDep, TenantConversation, agent_name
from aiaas.chat.repository import ConversationRepository
from aiaas.chat.schemas import AgentReply, ConversationOut, MessageOut, ResolveIn
from aiaas.kit.pagination import Page, PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.tenancy.dependencies import TenantSession, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, prefix="/chat/inbox", tags=["inbox"])
PageDep = Annotated[PageParams, Depends(page_params)]
Agent = Annotated[Principal, require("inbox:write")]
Reader = Annotated[Principal, require("chat:read")]


@router.get("", response_model=Page[ConversationOut])
async def waiting(
    session: TenantSession,
    page: PageDep,
    _: Reader,
    include_claimed: Annotated[
        bool, Query(description="Also list conversations with an agent")
    ] = False,
) -> Page[ConversationOut]:
    """Conversations waiting for a human, the longest wait first."""
    rows, cursor = await ConversationRepository(session).inbox_page(
        page, include_claimed=include_claimed
    )
    return Page(items=[ConversationOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/{conversation_id}/claim", response_model=ConversationOut)
async def claim(
    conversation: TenantConversation, chat: ChatDep, principal: Agent
) -> ConversationOut:
    """Take a waiting conversation; the customer sees the agent join."""
    assert principal.tenant_id is not None
    claimed = await chat.inbox.claim(principal.tenant_id, conversation.id, agent_name(principal))
    return ConversationOut.model_validate(claimed)


@router.post("/{conversation_id}/reply", response_model=MessageOut, status_code=201)
async def reply(
    conversation: TenantConversation, body: AgentReply, chat: ChatDep, principal: Agent
) -> MessageOut:
    """Answer the customer; delivered live on every replica."""
    assert principal.tenant_id is not None
    return await chat.inbox.reply(
        principal.tenant_id, conversation.id, agent_name(principal), body.content
    )


@router.post("/{conversation_id}/hand-back", response_model=ConversationOut)
async def hand_back(
    conversation: TenantConversation, chat: ChatDep, principal: Agent
) -> ConversationOut:
    """Give the conversation back to the bot; the waiting workflow continues."""
    assert principal.tenant_id is not None
    done = await chat.inbox.hand_back(principal.tenant_id, conversation.id, agent_name(principal))
    return ConversationOut.model_validate(done)


@router.post("/{conversation_id}/resolve", response_model=ConversationOut)
async def resolve(
    conversation: TenantConversation,
    chat: ChatDep,
    principal: Agent,
    body: ResolveIn | None = None,
) -> ConversationOut:
    """End the handoff as resolved; the workflow's handoff is answered with the agent's reply."""
    assert principal.tenant_id is not None
    done = await chat.inbox.resolve(
        principal.tenant_id, conversation.id, agent_name(principal), body.note if body else None
    )
    return ConversationOut.model_validate(done)
