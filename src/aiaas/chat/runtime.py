"""The chat domain's long-lived objects, built once per process and held by the platform."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import FromClause
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.cache import Cache
from aiaas.backends.llm import LLMProvider, build_llm_provider
from aiaas.chat.channels import WebhookDispatcher, WidgetSessions
from aiaas.chat.inbox import InboxService
from aiaas.chat.ports import ModelRouter, TurnEngine
from aiaas.chat.responder import DirectLLMEngine
from aiaas.chat.service import ChatService
from aiaas.config import Settings
from aiaas.events import insert_events
from aiaas.kit.db import Database, insert_rows
from aiaas.kit.security import JwtCodec
from aiaas.realtime.fanout import build_fanout
from aiaas.realtime.hub import Hub

log = logging.getLogger(__name__)

Write = Callable[[AsyncSession], Awaitable[None]]


class GroupCommit:
    """Writes of concurrent requests of one tenant committed together, one transaction per batch.

    A caller's :meth:`write` returns once its rows are committed (a caller that answers only after
    that answers nothing unstored); while one batch commits, the writes arriving meanwhile queue
    for the next. Each write runs in its caller's context (request id, trace and actor reach its
    events). A batch that fails is retried write by write, so one bad write fails only its own
    caller.

    Rows given to :meth:`insert` (built beforehand, events included) are written with one
    statement per table for the whole batch, without the unit of work's cost per object.
    """

    def __init__(self, db: Database, max_batch: int = 128) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: dict[UUID, list[_Queued]] = {}
        self._draining: set[UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, tenant_id: UUID, work: Write) -> None:
        """Run ``work`` in a transaction of ``tenant_id`` (shared with other waiting writes) and
        return once it committed; raise what ``work`` or its commit raised."""
        await self._enqueue(
            tenant_id,
            _Queued(
                work, (), (), contextvars.copy_context(), asyncio.get_running_loop().create_future()
            ),
        )

    async def insert(
        self,
        tenant_id: UUID,
        rows: Sequence[tuple[FromClause, dict[str, Any]]] = (),
        events: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Insert ``rows`` (table and column values) and outbox ``events`` (from
        :func:`~aiaas.events.outbox.outbox_row`) in a transaction of ``tenant_id`` shared with
        other waiting writes; return once committed."""
        loop = asyncio.get_running_loop()
        await self._enqueue(tenant_id, _Queued(None, rows, events, None, loop.create_future()))

    async def _enqueue(self, tenant_id: UUID, queued: _Queued) -> None:
        self._pending.setdefault(tenant_id, []).append(queued)
        if tenant_id not in self._draining:
            self._draining.add(tenant_id)
            task = asyncio.create_task(self._drain(tenant_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await queued.done

    async def _drain(self, tenant_id: UUID) -> None:
        batch: list[_Queued] = []
        try:
            while queued := self._pending.pop(tenant_id, None):
                batch, rest = queued[: self.max_batch], queued[self.max_batch :]
                if rest:
                    self._pending[tenant_id] = rest + self._pending.get(tenant_id, [])
                try:
                    await self._commit(tenant_id, batch)
                except Exception as exc:
                    if len(batch) == 1:
                        batch[0].fail(exc)
                        continue
                    log.warning("a batch of %d writes failed; retrying one by one", len(batch))
                    for item in batch:
                        try:
                            await self._commit(tenant_id, [item])
                        except Exception as alone:
                            item.fail(alone)
                        else:
                            item.succeed()
                else:
                    for item in batch:
                        item.succeed()
        except BaseException as exc:  # cancelled at shutdown: no caller may wait forever
            for item in [*batch, *self._pending.pop(tenant_id, [])]:
                item.fail(exc)
            raise
        finally:
            self._draining.discard(tenant_id)

    async def _commit(self, tenant_id: UUID, batch: list[_Queued]) -> None:
        async with self.db.transaction(tenant_id) as session:
            tables: dict[tuple[FromClause, tuple[str, ...]], list[dict[str, Any]]] = {}
            events: list[dict[str, Any]] = []
            for item in batch:
                if item.work is not None:
                    # In the caller's context, so its events carry its request id, trace and actor.
                    await asyncio.create_task(_run(item.work, session), context=item.context)
                for table, row in item.rows:
                    tables.setdefault((table, tuple(row)), []).append(row)
                events.extend(item.events)
            for (table, _columns), rows in tables.items():
                await insert_rows(session, table, rows)
            await insert_events(session, events)


@dataclass(slots=True)
class _Queued:
    work: Write | None
    rows: Sequence[tuple[FromClause, dict[str, Any]]]
    events: Sequence[dict[str, Any]]
    context: contextvars.Context | None
    done: asyncio.Future[None]

    def succeed(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def _run(work: Write, session: AsyncSession) -> None:
    await work(session)


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
        self.writes = GroupCommit(db)
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
