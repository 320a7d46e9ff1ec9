"""FastAPI dependencies of the chat routes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from aiaas.chat.models import Conversation
from aiaas.chat.runtime import ChatRuntime
from aiaas.chat.service import load_conversation
from aiaas.tenancy.dependencies import TenantSession
from aiaas.tenancy.permissions import Principal


async def get_chat(request: Request) -> ChatRuntime:
    runtime: ChatRuntime = request.app.state.platform.chat
    return runtime


ChatDep = Annotated[ChatRuntime, Depends(get_chat)]


async def conversation_of_tenant(conversation_id: UUID, session: TenantSession) -> Conversation:
    """The caller's conversation, resolved before the body is read: another tenant's id is a 404."""
    return await load_conversation(session, conversation_id)


TenantConversation = Annotated[Conversation, Depends(conversation_of_tenant)]


def agent_name(principal: Principal) -> str:
    return principal.display or str(principal.id)
