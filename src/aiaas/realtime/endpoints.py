"""``WS /ws/chat``: customers, integrations and agents on one JSON protocol (docs/chat.md).

The tenant always comes from the credential (API key, access token or widget session token), given
as ``Authorization: Bearer`` or ``?token=``; never from the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from aiaas.chat.frames import message_frame
from aiaas.chat.models import Conversation
from aiaas.chat.repository import MessageRepository
from aiaas.chat.runtime import ChatRuntime
from aiaas.chat.schemas import ConversationCreate
from aiaas.chat.service import create_conversation, load_conversation
from aiaas.kit.errors import AppError, Forbidden, NotFound
from aiaas.kit.ids import new_id, parse_id
from aiaas.kit.routing import GuardedRoute
from aiaas.platform import Platform
from aiaas.realtime.connection import Connection
from aiaas.realtime.protocol import (
    CLIENT_TYPES,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    conversation_topic,
    error_frame,
    inbox_topic,
)

log = logging.getLogger(__name__)
router = APIRouter(route_class=GuardedRoute)
REPLAY_LIMIT = 1_000


@dataclass(frozen=True)
class SocketIdentity:
    tenant_id: UUID
    role: str  # "customer" (widget visitor, API key) or "agent" (signed-in user)
    name: str
    end_user_id: str | None  # widget visitors are bound to one end user
    permissions: frozenset[str]


async def authenticate_socket(platform: Platform, chat: ChatRuntime, token: str) -> SocketIdentity:
    if token.startswith("ak_"):
        principal = await platform.authenticator.from_api_key(token)
        role = "customer"
    else:
        try:
            tenant_id, end_user = chat.widget_sessions.verify(token)
        except AppError:
            principal = await platform.authenticator.from_access_token(token)
            role = "agent"
        else:
            return SocketIdentity(
                tenant_id, "customer", end_user, end_user, frozenset({"chat:read", "chat:write"})
            )
    if principal.tenant_id is None:
        raise NotFound("tenant principal required", code="tenant_required")
    return SocketIdentity(principal.tenant_id, role, principal.display, None, principal.permissions)


def _credential(ws: WebSocket) -> str | None:
    header = ws.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return ws.query_params.get("token") or ws.headers.get("x-api-key")


class Session:
    """One socket: its identity, its connection queue, the conversations it follows."""

    def __init__(self, ws: WebSocket, platform: Platform, identity: SocketIdentity) -> None:
        self.ws = ws
        self.platform = platform
        self.chat: ChatRuntime = platform.chat
        self.identity = identity
        settings = platform.settings.chat
        self.settings = settings
        self.connection = Connection(
            ws.send_text,
            self._close,
            max_queue=settings.ws_send_queue,
            slow_after=settings.ws_slow_consumer_seconds,
            tenant_id=str(identity.tenant_id),
            identity=str(new_id()),
        )
        self.conversations: set[UUID] = set()
        self.last_seen = time.monotonic()
        self.turn: asyncio.Task[None] | None = None

    async def _close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, reason=reason)

    async def follow(self, conversation_id: UUID, last_event_id: UUID | None) -> Conversation:
        """Subscribe to a conversation of the caller's tenant, then replay what was missed."""
        if "chat:read" not in self.identity.permissions:
            raise Forbidden(
                "chat:read is needed to follow conversations", code="insufficient_permissions"
            )
        async with self.platform.db.transaction(self.identity.tenant_id) as session:
            conversation = await load_conversation(session, conversation_id)
            if self.identity.end_user_id is not None and (
                conversation.end_user_id != self.identity.end_user_id
            ):
                raise NotFound("no such conversation", code="conversation_not_found")
            topic = conversation_topic(str(self.identity.tenant_id), str(conversation_id))
            first_follow = conversation_id not in self.conversations
            self.chat.hub.subscribe(self.connection, topic)
            self.conversations.add(conversation_id)
            missed: list[dict[str, Any]] = []
            if last_event_id is not None:
                rows = await MessageRepository(session).after(
                    conversation_id, last_event_id, REPLAY_LIMIT
                )
                missed = [message_frame(r) for r in rows]
        if missed:
            self.connection.prepend(missed)
        self.connection.offer(
            {"type": "replayed", "conversation_id": str(conversation_id), "count": len(missed)}
        )
        if first_follow:
            await self._announce(conversation_id, "online")
        return conversation

    async def _announce(self, conversation_id: UUID, state: str) -> None:
        """Presence: an agent is announced to the conversation, a customer to the tenant's agents
        (so a conversation followed by many sockets costs no quadratic fan-out)."""
        tenant = str(self.identity.tenant_id)
        topic = (
            conversation_topic(tenant, str(conversation_id))
            if self.identity.role == "agent"
            else inbox_topic(tenant)
        )
        await self.chat.hub.publish(topic, self._presence(conversation_id, state))

    def _presence(self, conversation_id: UUID, state: str) -> dict[str, Any]:
        return {
            "type": "presence",
            "conversation_id": str(conversation_id),
            "role": self.identity.role,
            "name": self.identity.name,
            "state": state,
            "origin": self.connection.identity,
        }

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind not in CLIENT_TYPES:
            self.connection.offer(error_frame("unknown_type", f"unknown frame type {kind!r}"))
            return
        if kind == "ping":
            self.connection.offer({"type": "pong", "ts": frame.get("ts")})
        elif kind == "pong":
            return
        elif kind == "resume":
            conversation_id = parse_id(str(frame.get("conversation_id")))
            last = parse_id(str(frame.get("last_event_id"))) if frame.get("last_event_id") else None
            if conversation_id is None:
                raise NotFound("no such conversation", code="conversation_not_found")
            await self.follow(conversation_id, last)
        elif kind == "typing":
            for conversation_id in self.conversations:
                topic = conversation_topic(str(self.identity.tenant_id), str(conversation_id))
                await self.chat.hub.publish(
                    topic,
                    {
                        "type": "typing",
                        "conversation_id": str(conversation_id),
                        "role": self.identity.role,
                        "origin": self.connection.identity,
                    },
                )
        elif kind == "message":
            await self._message(frame)

    async def _message(self, frame: dict[str, Any]) -> None:
        content = frame.get("content")
        if not isinstance(content, str) or not content.strip():
            self.connection.offer(error_frame("invalid_message", "content must be non-empty text"))
            return
        if "chat:write" not in self.identity.permissions:
            self.connection.offer(error_frame("insufficient_permissions", "chat:write needed"))
            return
        conversation_id = parse_id(str(frame.get("conversation_id") or ""))
        if conversation_id is None:
            conversation_id = await self._new_conversation(frame)
        elif conversation_id not in self.conversations:
            await self.follow(conversation_id, None)
        if self.identity.role == "agent":
            await self.chat.inbox.reply(
                self.identity.tenant_id, conversation_id, self.identity.name, content
            )
            return
        if self.turn is not None and not self.turn.done():
            self.connection.offer(error_frame("turn_in_progress", "wait for the current answer"))
            return
        self.turn = asyncio.create_task(
            self._run_turn(conversation_id, content, frame.get("idempotency_key"))
        )

    async def _new_conversation(self, frame: dict[str, Any]) -> UUID:
        end_user = self.identity.end_user_id or str(frame.get("end_user_id") or "")
        if not end_user:
            raise NotFound("give conversation_id or end_user_id", code="conversation_not_found")
        channel = "widget" if self.identity.end_user_id is not None else "websocket"
        async with self.platform.db.transaction(self.identity.tenant_id) as session:
            conversation = await create_conversation(
                session, ConversationCreate(end_user_id=end_user, channel=channel)
            )
            conversation_id = conversation.id
        await self.follow(conversation_id, None)
        self.connection.offer(
            {"type": "conversation", "conversation_id": str(conversation_id), "status": "open"}
        )
        return conversation_id

    async def _run_turn(self, conversation_id: UUID, content: str, key: Any) -> None:
        try:
            await self.chat.service.run(
                self.identity.tenant_id,
                conversation_id,
                content,
                idempotency_key=str(key)[:200] if key else None,
            )
        except AppError as exc:
            self.connection.offer(error_frame(exc.code, exc.detail))
        except Exception:
            log.exception("websocket turn failed")
            self.connection.offer(error_frame("internal_error", "the answer failed"))

    async def heartbeat(self) -> None:
        interval = self.settings.ws_heartbeat_seconds
        while self.connection.close_code is None:
            await asyncio.sleep(interval)
            if time.monotonic() - self.last_seen > 2 * interval:
                self.connection.shut(CLOSE_NORMAL, "heartbeat timeout")
                return
            self.connection.offer({"type": "ping", "ts": int(time.time())})

    async def leave(self) -> None:
        hub = self.chat.hub
        hub.unregister(self.connection)
        for conversation_id in self.conversations:
            with contextlib.suppress(Exception):
                await self._announce(conversation_id, "offline")
        if self.turn is not None and not self.turn.done():
            # The turn finishes and is stored; the customer reads it after reconnecting.
            pass
        await self.connection.stop()


@router.websocket("/ws/chat")
async def chat_socket(ws: WebSocket) -> None:
    platform: Platform = ws.app.state.platform
    token = _credential(ws)
    if not token:
        await ws.close(code=CLOSE_UNAUTHORIZED, reason="authentication required")
        return
    try:
        identity = await authenticate_socket(platform, platform.chat, token)
    except AppError as exc:
        await ws.close(code=CLOSE_UNAUTHORIZED, reason=exc.code)
        return
    await ws.accept()
    session = Session(ws, platform, identity)
    platform.chat.hub.register(session.connection)
    heartbeat: asyncio.Task[None] | None = None
    try:
        try:
            await _open(session, ws)
        except AppError as exc:
            await ws.send_text(json.dumps(error_frame(exc.code, exc.detail)))
            await ws.close(code=CLOSE_POLICY, reason=exc.code)
            return
        session.connection.start()
        heartbeat = asyncio.create_task(session.heartbeat())
        await _read(session, ws)
    except WebSocketDisconnect:
        pass
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
        await session.leave()


async def _open(session: Session, ws: WebSocket) -> None:
    identity = session.identity
    session.connection.offer(
        {
            "type": "hello",
            "connection_id": session.connection.identity,
            "role": identity.role,
            "tenant_id": str(identity.tenant_id),
            "heartbeat_seconds": session.settings.ws_heartbeat_seconds,
            "max_message_bytes": session.settings.ws_max_message_bytes,
        }
    )
    raw_conversation = ws.query_params.get("conversation_id")
    if raw_conversation:
        conversation_id = parse_id(raw_conversation)
        if conversation_id is None:
            raise NotFound("no such conversation", code="conversation_not_found")
        last = ws.query_params.get("last_event_id")
        await session.follow(conversation_id, parse_id(last) if last else None)
    if identity.role == "agent" and ws.query_params.get("inbox") in ("1", "true"):
        session.chat.hub.subscribe(session.connection, inbox_topic(str(identity.tenant_id)))


async def _read(session: Session, ws: WebSocket) -> None:
    limit = session.settings.ws_max_message_bytes
    while session.connection.close_code is None:
        receive = asyncio.ensure_future(ws.receive())
        closed = asyncio.ensure_future(session.connection.closed.wait())
        done, _ = await asyncio.wait({receive, closed}, return_when=asyncio.FIRST_COMPLETED)
        if receive not in done:
            receive.cancel()
            return
        closed.cancel()
        message = receive.result()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None and message.get("bytes") is not None:
            raw = message["bytes"]
        size = len(raw.encode() if isinstance(raw, str) else (raw or b""))
        if size > limit:
            session.connection.shut(CLOSE_TOO_BIG, f"frames are limited to {limit} bytes")
            return
        session.last_seen = time.monotonic()
        try:
            frame = json.loads(raw or "")
            if not isinstance(frame, dict):
                raise ValueError("not an object")
        except ValueError:
            session.connection.offer(error_frame("invalid_json", "frames are JSON objects"))
            continue
        try:
            await session.handle(frame)
        except AppError as exc:
            session.connection.offer(error_frame(exc.code, exc.detail))
