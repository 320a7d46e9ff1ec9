"""Channels: the public widget (key + allowed origins -> visitor session token), signed inbound
webhooks with replay protection, and signed outbound webhook replies with retries and dead letters.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.cache import Cache
from aiaas.chat import events as ev
from aiaas.chat.config import ChatSettings
from aiaas.chat.models import ChannelSettings, Conversation, Message, WebhookDelivery
from aiaas.chat.repository import ChannelSettingsRepository, DeliveryRepository
from aiaas.events.outbox import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.db import Database
from aiaas.kit.errors import AppError, Forbidden, NotFound, Unauthorized
from aiaas.kit.ids import parse_id
from aiaas.kit.security import JwtCodec
from aiaas.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

WIDGET_TOKEN = "widget"  # nosec B105  # the name of a token kind, not a secret
SIGNATURE_HEADER = "x-aiaas-signature"
TIMESTAMP_HEADER = "x-aiaas-timestamp"
TENANT_HEADER = "x-aiaas-tenant"


class InvalidSignature(AppError):
    status, code, title = 401, "invalid_signature", "Invalid webhook signature"


class ReplayedWebhook(AppError):
    status, code, title = 409, "webhook_replayed", "Webhook already received"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>`` (inbound and outbound alike)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def new_widget_key(tenant_id: UUID) -> str:
    """Public, but names its tenant so a visitor's first request needs no cross-tenant lookup."""
    return f"wk_{tenant_id.hex}_{secrets.token_urlsafe(18)}"


def widget_key_tenant(key: str) -> UUID | None:
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "wk":
        return None
    return parse_id(parts[1])


async def get_or_create_settings(session: AsyncSession) -> ChannelSettings:
    repo = ChannelSettingsRepository(session)
    current = await repo.current()
    if current is not None:
        return current
    tenant_id = repo.tenant_id
    assert tenant_id is not None
    return await repo.add(
        ChannelSettings(
            widget_key=new_widget_key(tenant_id),
            allowed_origins=[],
            inbound_secret=secrets.token_urlsafe(32),
            outbound_secret=secrets.token_urlsafe(32),
        )
    )


class WidgetSessions:
    """Short-lived visitor tokens, bound to a tenant and one end-user id."""

    def __init__(self, codec: JwtCodec, settings: ChatSettings) -> None:
        self.codec = codec
        self.ttl = timedelta(seconds=settings.widget_token_ttl_seconds)

    def issue(self, tenant_id: UUID, end_user_id: str) -> tuple[str, int]:
        token, _jti, _expires = self.codec.encode(
            {"tid": str(tenant_id), "sub": end_user_id}, self.ttl, typ=WIDGET_TOKEN
        )
        return token, int(self.ttl.total_seconds())

    def verify(self, token: str) -> tuple[UUID, str]:
        """The token's tenant and end user; 401 when it is not a valid, unexpired widget token."""
        try:
            claims = self.codec.decode(token, typ=WIDGET_TOKEN)
        except AppError:
            raise
        except Exception as exc:
            raise Unauthorized("invalid widget session", code="invalid_widget_session") from exc
        tenant_id = parse_id(str(claims.get("tid")))
        if tenant_id is None or not claims.get("sub"):
            raise Unauthorized("invalid widget session", code="invalid_widget_session")
        return tenant_id, str(claims["sub"])


async def check_widget_key(db: Database, key: str, origin: str | None) -> UUID:
    """The tenant of a widget key, after checking the calling page's origin against the list."""
    tenant_id = widget_key_tenant(key)
    if tenant_id is None:
        raise NotFound("unknown widget key", code="widget_key_unknown")
    async with db.transaction(tenant_id) as session:
        channel = await ChannelSettingsRepository(session).current()
        if channel is None or not hmac.compare_digest(channel.widget_key, key):
            raise NotFound("unknown widget key", code="widget_key_unknown")
        allowed = channel.allowed_origins or []
    if "*" not in allowed and (origin is None or origin.rstrip("/") not in allowed):
        raise Forbidden("this origin may not use the widget", code="origin_not_allowed")
    return tenant_id


async def verify_inbound(
    db: Database, cache: Cache, settings: ChatSettings, headers: Any, body: bytes
) -> UUID:
    """The tenant of a signed inbound webhook; 401 on a bad signature or stale timestamp, 409 on a
    replay of a signature already accepted."""
    tenant_id = parse_id(headers.get(TENANT_HEADER) or "")
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    signature = headers.get(SIGNATURE_HEADER) or ""
    if tenant_id is None or not timestamp.isdigit() or not signature:
        raise InvalidSignature(f"send {TENANT_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if abs(time.time() - int(timestamp)) > settings.webhook_tolerance_seconds:
        raise InvalidSignature("timestamp outside the accepted window")
    async with db.transaction(tenant_id) as session:
        channel = await ChannelSettingsRepository(session).current()
        secret = channel.inbound_secret if channel is not None else None
    if secret is None or not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise InvalidSignature("signature does not match")
    seen = await cache.incr(
        f"chat:webhook-seen:{tenant_id}:{signature}",
        ttl_seconds=2 * settings.webhook_tolerance_seconds,
    )
    if seen > 1:
        raise ReplayedWebhook("this webhook was already received")
    return tenant_id


class WebhookDispatcher:
    """Sends replies of webhook conversations to the tenant's outbound URL, signed, with retries."""

    def __init__(self, db: Database, settings: ChatSettings) -> None:
        self.db = db
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds)

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def enqueue_reply(
        self, session: AsyncSession, conversation: Conversation, message: Message
    ) -> None:
        """``ChatService.on_reply``: a delivery row in the reply's transaction, sent after commit."""
        if conversation.channel != "webhook":
            return
        channel = await ChannelSettingsRepository(session).current()
        if channel is None or not channel.outbound_url:
            return
        payload = {
            "type": "message",
            "conversation_id": str(conversation.id),
            "end_user_id": conversation.end_user_id,
            "message": {
                "id": str(message.id),
                "role": message.role,
                "content": message.content,
                "citations": message.citations,
                "created_at": message.created_at.isoformat(),
            },
        }
        delivery = await DeliveryRepository(session).add(
            WebhookDelivery(
                conversation_id=conversation.id,
                message_id=message.id,
                url=channel.outbound_url,
                payload=payload,
            )
        )
        tenant_id, delivery_id, secret = (
            conversation.tenant_id,
            delivery.id,
            channel.outbound_secret,
        )
        sync_session = session.sync_session

        def after_commit(_session: Any) -> None:
            task = asyncio.ensure_future(self._deliver(tenant_id, delivery_id, secret))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        from sqlalchemy import event as sa_event

        sa_event.listen(sync_session, "after_commit", after_commit, once=True)

    async def _deliver(self, tenant_id: UUID, delivery_id: UUID, secret: str) -> None:
        delay = self.settings.webhook_backoff_seconds
        while True:
            async with self.db.transaction(tenant_id) as session:
                delivery = await DeliveryRepository(session).get(delivery_id)
                if delivery is None or delivery.status != "pending":
                    return
                url, payload = delivery.url, delivery.payload
            error = await self._post(url, payload, secret, str(delivery_id))
            async with self.db.transaction(tenant_id) as session:
                delivery = await DeliveryRepository(session).get(delivery_id)
                if delivery is None:
                    return
                delivery.attempts += 1
                if error is None:
                    delivery.status = "delivered"
                    delivery.delivered_at = utcnow()
                    delivery.last_error = None
                    return
                delivery.last_error = error
                if delivery.attempts >= self.settings.webhook_max_attempts:
                    delivery.status = "dead"
                    await record_event(
                        session,
                        "chat.webhook.dead_lettered",
                        ev.WebhookDeadLettered(
                            delivery_id=delivery.id,
                            conversation_id=delivery.conversation_id,
                            attempts=delivery.attempts,
                            error=error[:500],
                        ),
                        subject_type="webhook_delivery",
                        subject_id=delivery.id,
                    )
                    return
                delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
            await asyncio.sleep(delay)
            delay *= 2

    async def _post(
        self, url: str, payload: dict[str, Any], secret: str, delivery_id: str
    ) -> str | None:
        assert self._client is not None, "dispatcher not started"
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "x-aiaas-delivery": delivery_id,
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if response.status_code >= 300:
            return f"HTTP {response.status_code}"
        return None
