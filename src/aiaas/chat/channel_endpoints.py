"""HTTP routes of the channels: settings, the public widget, inbound webhooks, dead letters."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from aiaas.chat.channels import check_widget_key, get_or_create_settings, verify_inbound
from aiaas.chat.dependencies import ChatDep
from aiaas.chat.models import Conversation
from aiaas.chat.repository import ConversationRepository, DeliveryRepository
from aiaas.chat.schemas import ConversationCreate, TurnOut
from aiaas.chat.service import create_conversation, load_conversation
from aiaas.kit.errors import BadRequest, NotFound, Unauthorized
from aiaas.kit.pagination import Page, PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.tenancy.dependencies import PlatformDep, TenantSession, public, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, prefix="/chat", tags=["channels"])
PageDep = Annotated[PageParams, Depends(page_params)]


class ChannelSettingsOut(BaseModel):
    widget_key: str
    allowed_origins: list[str]
    outbound_url: str | None
    inbound_secret: str | None = Field(None, description="Shown when created or rotated only")
    outbound_secret: str | None = Field(None, description="Shown when created or rotated only")


class ChannelSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] | None = Field(None, max_length=50)
    outbound_url: str | None = Field(None, max_length=2000, pattern=r"^https?://")
    rotate_secrets: bool = False


class WidgetSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    widget_key: str = Field(min_length=10, max_length=100)
    end_user_id: str | None = Field(None, min_length=1, max_length=200)


class WidgetSessionOut(BaseModel):
    token: str
    expires_in: int
    end_user_id: str


class WidgetMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = None
    content: str = Field(min_length=1, max_length=32_000)


class InboundMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_user_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=32_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Any
    conversation_id: Any
    message_id: Any
    url: str
    status: str
    attempts: int
    last_error: str | None
    created_at: Any


@router.get("/channels", response_model=ChannelSettingsOut)
async def channel_settings(
    session: TenantSession, _: Annotated[Principal, require("tenant:read")]
) -> ChannelSettingsOut:
    """The widget key, allowed origins and outbound webhook URL (created on first read)."""
    current = await get_or_create_settings(session)
    fresh = current.created_at == current.updated_at
    return _settings_out(current, reveal=fresh)


@router.put("/channels", response_model=ChannelSettingsOut)
async def update_channel_settings(
    body: ChannelSettingsIn,
    session: TenantSession,
    _: Annotated[Principal, require("tenant:write")],
) -> ChannelSettingsOut:
    current = await get_or_create_settings(session)
    if body.allowed_origins is not None:
        current.allowed_origins = [o.rstrip("/") for o in body.allowed_origins]
    if body.outbound_url is not None:
        current.outbound_url = body.outbound_url
    if body.rotate_secrets:
        current.inbound_secret = secrets.token_urlsafe(32)
        current.outbound_secret = secrets.token_urlsafe(32)
    await session.flush()
    return _settings_out(current, reveal=body.rotate_secrets)


def _settings_out(current: Any, *, reveal: bool) -> ChannelSettingsOut:
    return ChannelSettingsOut(
        widget_key=current.widget_key,
        allowed_origins=list(current.allowed_origins or []),
        outbound_url=current.outbound_url,
        inbound_secret=current.inbound_secret if reveal else None,
        outbound_secret=current.outbound_secret if reveal else None,
    )


@router.get("/webhooks/deliveries", response_model=Page[DeliveryOut])
async def deliveries(
    session: TenantSession,
    page: PageDep,
    _: Annotated[Principal, require("chat:read")],
    status_: Annotated[str, Query(alias="status", pattern="^(pending|delivered|dead)$")] = "dead",
) -> Page[DeliveryOut]:
    """Outbound webhook replies by state; ``dead`` is the dead-letter list."""
    rows, cursor = await DeliveryRepository(session).by_status(status_, page)
    return Page(items=[DeliveryOut.model_validate(r) for r in rows], next_cursor=cursor)


# ---- public widget -------------------------------------------------------------------------------
@router.post("/widget/sessions", response_model=WidgetSessionOut, status_code=201)
@public
async def widget_session(
    body: WidgetSessionIn, request: Request, platform: PlatformDep, chat: ChatDep
) -> WidgetSessionOut:
    """A visitor's short-lived session token, for a page whose Origin the tenant allows."""
    tenant_id = await check_widget_key(platform.db, body.widget_key, request.headers.get("origin"))
    end_user = body.end_user_id or f"visitor-{secrets.token_hex(8)}"
    token, ttl = chat.widget_sessions.issue(tenant_id, end_user)
    return WidgetSessionOut(token=token, expires_in=ttl, end_user_id=end_user)


def _widget_visitor(request: Request, chat: ChatDep) -> tuple[Any, str]:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "send the widget session token as a Bearer token", code="unauthenticated"
        )
    return chat.widget_sessions.verify(token.strip())


@router.post("/widget/messages", response_model=TurnOut)
@public
async def widget_message(
    body: WidgetMessageIn, request: Request, platform: PlatformDep, chat: ChatDep
) -> TurnOut:
    """A visitor's message (a new conversation when ``conversation_id`` is absent)."""
    tenant_id, end_user = _widget_visitor(request, chat)
    async with platform.db.transaction(tenant_id) as session:
        conversation = await _visitor_conversation(session, body.conversation_id, end_user)
        conversation_id = conversation.id
    return await chat.service.run(tenant_id, conversation_id, body.content)


async def _visitor_conversation(session: Any, raw_id: str | None, end_user: str) -> Conversation:
    from aiaas.kit.ids import parse_id

    if raw_id is None:
        return await create_conversation(
            session, ConversationCreate(end_user_id=end_user, channel="widget")
        )
    conversation_id = parse_id(raw_id)
    if conversation_id is None:
        raise BadRequest("conversation_id is not an id", code="invalid_id")
    conversation = await load_conversation(session, conversation_id)
    if conversation.end_user_id != end_user or conversation.channel != "widget":
        raise NotFound("no such conversation", code="conversation_not_found")
    return conversation


# ---- inbound webhook -----------------------------------------------------------------------------
@router.post("/webhooks/inbound", response_model=TurnOut, status_code=status.HTTP_200_OK)
@public
async def inbound_webhook(request: Request, platform: PlatformDep, chat: ChatDep) -> TurnOut:
    """A signed message from the tenant's system (``X-Aiaas-Tenant``, ``X-Aiaas-Timestamp``,
    ``X-Aiaas-Signature: sha256=HMAC(secret, "<timestamp>.<body>")``). Replies also go to the
    outbound webhook URL, signed the same way."""
    raw = await request.body()
    tenant_id = await verify_inbound(
        platform.db, platform.cache, platform.settings.chat, request.headers, raw
    )
    try:
        body = InboundMessage.model_validate(json.loads(raw))
    except ValueError as exc:
        raise BadRequest(f"body is not a valid message: {exc}"[:300], code="invalid_body") from None
    async with platform.db.transaction(tenant_id) as session:
        conversation = await _webhook_conversation(session, body)
        conversation_id = conversation.id
    return await chat.service.run(tenant_id, conversation_id, body.text)


async def _webhook_conversation(session: Any, body: InboundMessage) -> Conversation:
    repo = ConversationRepository(session)
    page = PageParams(limit=1)
    rows, _ = await repo.list_page(page, status=None, end_user_id=body.end_user_id)
    if rows and rows[0].channel == "webhook" and rows[0].status not in ("closed", "resolved"):
        return rows[0]
    return await create_conversation(
        session,
        ConversationCreate(end_user_id=body.end_user_id, channel="webhook", metadata=body.metadata),
    )
