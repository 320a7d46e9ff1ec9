"""The chat domain's long-lived objects, built once per process and held by the platform."""

from __future__ import annotations

from typing import Any

from aiaas.backends.cache import Cache
from aiaas.backends.llm import LLMProvider, build_llm_provider
from aiaas.chat.channels import WebhookDispatcher, WidgetSessions
from aiaas.chat.inbox import InboxService
from aiaas.chat.ports import ModelRouter, TurnEngine
from aiaas.chat.responder import DirectLLMEngine
from aiaas.chat.service import ChatService
from aiaas.config import Settings
from aiaas.kit.db import Database
from aiaas.kit.security import JwtCodec
from aiaas.realtime.fanout import build_fanout
from aiaas.realtime.hub import Hub


class ChatRuntime:
    """Hub, turn service, inbox, channels; ``engine``/``router`` come from their domains."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        cache: Cache,
        *,
        engine: TurnEngine | None = None,
        router: ModelRouter | None = None,
        llm: LLMProvider | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.llm = llm or build_llm_provider(settings.llm)
        self.catalog = settings.llm.catalog()
        self.hub = Hub(build_fanout(settings.redis_url, settings.namespace))
        self.webhooks = WebhookDispatcher(db, settings.chat)
        self.router = router
        self.service = ChatService(
            db,
            settings.chat,
            engine or DirectLLMEngine(self.llm),
            self.hub,
            router,
            on_reply=self.webhooks.enqueue_reply,
        )
        self.inbox = InboxService(self.service)
        codec = JwtCodec(settings.jwt_secret, settings.auth.jwt_issuer, settings.auth.jwt_audience)
        self.widget_sessions = WidgetSessions(codec, settings.chat)

    def use(
        self, *, engine: Any = None, router: Any = None, llm: LLMProvider | None = None
    ) -> None:
        """Swap in the orchestrator, the router and the shared LLM provider."""
        if llm is not None:
            self.llm = llm
        if engine is not None:
            self.service.engine = engine
        if router is not None:
            self.router = router
            self.service.router = router

    async def start(self) -> None:
        await self.hub.start()
        await self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()
        await self.hub.close()
