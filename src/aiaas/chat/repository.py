"""All SQL of the chat domain (scoped to the session's tenant by kit.db)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from aiaas.chat.models import (
    WAITING,
    WITH_HUMAN,
    ChannelSettings,
    Conversation,
    Feedback,
    IdempotentSend,
    Message,
    WebhookDelivery,
)
from aiaas.kit.pagination import PageParams, encode_cursor
from aiaas.kit.repository import Repository


class ConversationRepository(Repository[Conversation]):
    model = Conversation

    async def get_for_update(self, id_: UUID) -> Conversation | None:
        return await self.one_or_none(self.select().where(Conversation.id == id_).with_for_update())

    async def list_page(
        self, params: PageParams, *, status: str | None, end_user_id: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        stmt = self.select()
        if status:
            stmt = stmt.where(Conversation.status == status)
        if end_user_id:
            stmt = stmt.where(Conversation.end_user_id == end_user_id)
        return await self.page(stmt, params)

    async def inbox_page(
        self, params: PageParams, *, include_claimed: bool
    ) -> tuple[list[Conversation], str | None]:
        """Conversations waiting for a human, oldest wait first (keyset on the id after the wait)."""
        statuses = (WAITING, WITH_HUMAN) if include_claimed else (WAITING,)
        stmt = self.select().where(Conversation.status.in_(statuses))
        if params.after_id is not None:
            anchor = await self.get(params.after_id)
            if anchor is not None and anchor.waiting_since is not None:
                stmt = stmt.where(
                    (Conversation.waiting_since > anchor.waiting_since)
                    | (
                        (Conversation.waiting_since == anchor.waiting_since)
                        & (Conversation.id > anchor.id)
                    )
                )
        stmt = stmt.order_by(Conversation.waiting_since.asc(), Conversation.id.asc())
        rows = list(await self.all(stmt.limit(params.limit + 1)))
        next_cursor = encode_cursor(rows[params.limit - 1].id) if len(rows) > params.limit else None
        return rows[: params.limit], next_cursor


class MessageRepository(Repository[Message]):
    model = Message

    async def history(
        self, conversation_id: UUID, params: PageParams
    ) -> tuple[list[Message], str | None]:
        return await self.page(
            self.select().where(Message.conversation_id == conversation_id), params
        )

    async def recent(self, conversation_id: UUID, limit: int) -> list[Message]:
        stmt = (
            self.select()
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return list(reversed(await self.all(stmt)))

    async def after(
        self, conversation_id: UUID, after_id: UUID | None, limit: int
    ) -> list[Message]:
        stmt = self.select().where(Message.conversation_id == conversation_id)
        if after_id is not None:
            stmt = stmt.where(Message.id > after_id)
        return list(await self.all(stmt.order_by(Message.id.asc()).limit(limit)))

    async def count_customer_turns(self, conversation_id: UUID) -> int:
        return await self.count(
            self.select().where(
                Message.conversation_id == conversation_id, Message.role == "customer"
            )
        )


class FeedbackRepository(Repository[Feedback]):
    model = Feedback


class IdempotencyRepository(Repository[IdempotentSend]):
    model = IdempotentSend

    async def by_key(self, key: str) -> IdempotentSend | None:
        return await self.one_or_none(self.select().where(IdempotentSend.key == key))

    async def purge_before(self, cutoff: datetime) -> Sequence[IdempotentSend]:
        old = await self.all(self.select().where(IdempotentSend.created_at < cutoff).limit(500))
        for row in old:
            await self.session.delete(row)
        return old


class ChannelSettingsRepository(Repository[ChannelSettings]):
    model = ChannelSettings

    async def current(self) -> ChannelSettings | None:
        return await self.one_or_none(self.select())


class DeliveryRepository(Repository[WebhookDelivery]):
    model = WebhookDelivery

    async def due(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        stmt = (
            self.select()
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return list(await self.all(stmt))

    async def by_status(
        self, status: str, params: PageParams
    ) -> tuple[list[WebhookDelivery], str | None]:
        return await self.page(self.select().where(WebhookDelivery.status == status), params)
