"""The running platform: backends built from settings and the long-lived services that use them.

`create_app` (HTTP) and the CLI (`worker`, `demo`, `tenants`, `keys`) both build one of these, so the
same wiring serves every entry point.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiaas.backends.bus import Bus
from aiaas.backends.bus.factory import build_bus
from aiaas.backends.cache import Cache
from aiaas.backends.cache.factory import build_cache
from aiaas.backends.llm import LLMProvider, build_llm_provider
from aiaas.backends.ratelimit import RateLimiter
from aiaas.backends.ratelimit.factory import build_rate_limiter
from aiaas.chat.runtime import ChatRuntime
from aiaas.chat.tasks import FeedbackRewardConsumer, OutcomeRewardConsumer
from aiaas.config import Settings
from aiaas.events.audit import AuditLogConsumer
from aiaas.events.consumer import Consumer, ConsumerRunner
from aiaas.events.outbox import set_outbox_namespace
from aiaas.events.relay import OutboxRelay
from aiaas.ingestion.runtime import KnowledgeBase, build_knowledge_base
from aiaas.ingestion.tasks import IngestionConsumer
from aiaas.kit.db import Database
from aiaas.kit.security import JwtCodec
from aiaas.kit.tasks import cancel_and_wait
from aiaas.orchestrator.service import OrchestratorService, ingestion_search
from aiaas.router.service import RouterService
from aiaas.router.tasks import IntentTrainingConsumer
from aiaas.tenancy.auth_service import AuthService
from aiaas.tenancy.credentials import Authenticator, CredentialCache
from aiaas.tenancy.service import TenantService
from aiaas.tools.demo_store import DemoStore

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    db: Database
    cache: Cache
    limiter: RateLimiter
    bus: Bus
    credentials: CredentialCache
    authenticator: Authenticator
    auth: AuthService
    tenants: TenantService
    knowledge: KnowledgeBase
    router: RouterService
    chat: ChatRuntime
    llm: LLMProvider
    orchestrator: OrchestratorService
    consumers: list[Consumer] = field(default_factory=list)
    relay: OutboxRelay | None = None
    runner: ConsumerRunner | None = None
    _relay_task: asyncio.Task[None] | None = None

    async def start(self, *, events: bool) -> None:
        """Connect the backends; with ``events`` also run the outbox relay and the consumers."""
        await self.bus.start()
        self.orchestrator.search = ingestion_search(self)
        await self.orchestrator.start()
        self.chat.use(engine=self.orchestrator, router=self.router, llm=self.llm)
        await self.chat.start()
        if events:
            await self.start_events()

    async def start_events(self) -> None:
        self.relay = OutboxRelay(self.db, self.bus, self.settings)
        self.runner = ConsumerRunner(self.db, self.bus, self.consumers, self.settings)
        await self.runner.start()
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")
        self.knowledge.start_background(self.db)

    async def stop_events(self) -> None:
        """Stop the relay, then the consumers (events not yet relayed wait in the outbox)."""
        await self.knowledge.stop_background()
        if self._relay_task is not None:
            await cancel_and_wait(self._relay_task)
            self._relay_task = None
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None

    async def stop(self) -> None:
        await self.stop_events()
        await self.chat.stop()
        await self.orchestrator.stop()
        await self.authenticator.drain()
        closers = (
            self.llm.close,
            self.bus.close,
            self.limiter.close,
            self.cache.close,
            self.knowledge.close,
        )
        for closer in (*closers, self.db.dispose):
            try:
                await closer()
            except Exception:
                log.exception("error while closing %s", closer)


def build_platform(settings: Settings) -> Platform:
    """Build every backend from settings. Nothing connects until :meth:`Platform.start`."""
    set_outbox_namespace(settings.namespace)
    db = Database(
        settings.app_database_url,
        pool_size=settings.database_pool_size,
        echo=settings.database_echo,
    )
    cache = build_cache(settings)
    credentials = CredentialCache(settings, cache)
    codec = JwtCodec(settings.jwt_secret, settings.auth.jwt_issuer, settings.auth.jwt_audience)
    authenticator = Authenticator(db, settings, credentials, codec)
    knowledge = build_knowledge_base(settings.ingestion)
    llm = build_llm_provider(settings.llm)
    demo_store = DemoStore() if settings.orchestrator.tools.demo_store else None
    chat = ChatRuntime(settings, db, cache)
    return Platform(
        settings=settings,
        db=db,
        cache=cache,
        limiter=build_rate_limiter(settings),
        bus=build_bus(settings),
        credentials=credentials,
        authenticator=authenticator,
        auth=AuthService(db, settings, authenticator, credentials, codec),
        tenants=TenantService(db, settings, credentials),
        knowledge=knowledge,
        router=RouterService(settings.router, cache, settings.llm.catalog(), settings.llm.models),
        chat=chat,
        llm=llm,
        orchestrator=OrchestratorService(db, settings, llm, demo_store=demo_store),
        consumers=[
            AuditLogConsumer(),
            IngestionConsumer(knowledge, settings.namespace),
            IntentTrainingConsumer(
                cache,
                settings.namespace,
                settings.router.intent_method,
                settings.router.intent_skip_encoder_confidence,
            ),
            FeedbackRewardConsumer(chat, settings.namespace),
            OutcomeRewardConsumer(chat, settings.namespace),
        ],
    )
