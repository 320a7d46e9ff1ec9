"""Worker side of ingestion: the pipeline consumer of ``ingestion.document.uploaded``, and the
re-indexer that moves stored vectors to a newly configured embedding model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events.consumer import Consumer
from aiaas.events.envelope import EventEnvelope, bus_subject
from aiaas.events.outbox import record_event
from aiaas.ingestion.events import (
    DOCUMENT_UPLOADED,
    REINDEX_STARTED,
    DocumentUploaded,
    ReindexStarted,
)
from aiaas.ingestion.pipeline import ReindexStep, process_document, reindex_batch
from aiaas.ingestion.repository import ChunkRepository
from aiaas.ingestion.runtime import KnowledgeBase
from aiaas.kit.db import Database
from aiaas.kit.tasks import cancel_and_wait
from aiaas.tenancy.models import Tenant

log = logging.getLogger(__name__)


class IngestionConsumer(Consumer):
    """Parses, chunks, embeds and indexes each uploaded version, in the event's transaction.

    The inbox makes a redelivery a no-op; a crash rolls back the half-done work and the event
    comes back, so a document is indexed exactly once or marked failed with a reason.
    """

    name = "ingestion_pipeline"

    def __init__(self, kb: KnowledgeBase, namespace: str) -> None:
        self.kb = kb
        self.subject_filter = bus_subject(namespace, DOCUMENT_UPLOADED)

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        payload = DocumentUploaded.model_validate(envelope.payload)
        await process_document(self.kb, session, payload.document_id, payload.version)


OnStep = Callable[[UUID, ReindexStep], Awaitable[None] | None]


class Reindexer:
    """Re-embeds the chunks whose vectors were made by another model than the configured one.

    ``run`` compares the configured model with every tenant's stored vectors and works through
    the tenants that differ, one batch per transaction (``reindex_batch``); the worker runs it at
    start-up and then every ``poll_seconds``; ``aiaas ingest --reindex`` and
    ``POST /api/v1/ingestion/reindex`` run it for one tenant. The work left is read from the
    database each time, so the re-index resumes after a crash and concurrent runs only share it.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        db: Database,
        *,
        batch: int | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.kb = kb
        self.db = db
        self.batch = batch or kb.settings.reindex_batch_chunks
        self.poll_seconds = poll_seconds or kb.settings.reindex_poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._tenant_tasks: dict[UUID, asyncio.Task[int]] = {}

    @property
    def enabled(self) -> bool:
        return self.kb.embeddings is not None

    async def pending(self, tenant_id: UUID) -> tuple[int, int]:
        """(chunks without a vector of the configured model, all chunks) of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            total, current = await ChunkRepository(session).model_counts(self.kb.embedding_label)
        return (total - current if self.enabled else 0), total

    async def tenants(self) -> list[UUID]:
        async with self.db.transaction() as session:
            return list((await session.execute(select(Tenant.id).order_by(Tenant.id))).scalars())

    async def reindex_tenant(self, tenant_id: UUID, on_step: OnStep | None = None) -> int:
        """Re-embed the tenant's stale chunks batch by batch; the number of chunks re-embedded."""
        if not self.enabled:
            return 0
        pending, total = await self.pending(tenant_id)
        if pending == 0:
            return 0
        label = self.kb.embedding_label
        assert label is not None
        async with self.db.transaction(tenant_id) as session:
            await record_event(
                session,
                REINDEX_STARTED,
                ReindexStarted(model=label, pending=pending, total=total),
                subject_type="embedding",
                subject_id=label,
            )
        log.info("re-indexing tenant %s: %d of %d chunks to %s", tenant_id, pending, total, label)
        done = 0
        while True:
            async with self.db.transaction(tenant_id) as session:
                step = await reindex_batch(self.kb, session, self.batch)
            done += step.chunks
            if on_step is not None:
                outcome = on_step(tenant_id, step)
                if outcome is not None:
                    await outcome
            if step.chunks == 0 or step.pending == 0:
                break
        if step.pending == 0:
            self.kb.indexes.forget(tenant_id)
        return done

    def running(self, tenant_id: UUID) -> bool:
        """Whether this process is re-indexing the tenant now."""
        task = self._tenant_tasks.get(tenant_id)
        return task is not None and not task.done()

    def request(self, tenant_id: UUID) -> bool:
        """Re-index one tenant in the background of this process; false if one already runs."""
        running = self._tenant_tasks.get(tenant_id)
        if running is not None and not running.done():
            return False
        task = asyncio.create_task(self.reindex_tenant(tenant_id), name=f"reindex-{tenant_id}")
        self._tenant_tasks[tenant_id] = task
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[int]) -> None:
        for tenant_id, known in list(self._tenant_tasks.items()):
            if known is task:
                del self._tenant_tasks[tenant_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("re-index failed: %r", task.exception())

    async def run_once(self) -> int:
        """One pass over every tenant; the number of chunks re-embedded."""
        if not self.enabled:
            return 0
        done = 0
        for tenant_id in await self.tenants():
            try:
                done += await self.reindex_tenant(tenant_id)
            except Exception:
                # One tenant's failure (endpoint down) must not stop the others; the next pass
                # resumes it.
                log.exception("re-index of tenant %s failed", tenant_id)
        return done

    async def run(self) -> None:
        """Re-index at once, then keep checking every ``poll_seconds`` (until cancelled)."""
        while True:
            await self.run_once()
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        """Run :meth:`run` as a background task (the worker, at start-up)."""
        if self._task is None and self.enabled:
            self._task = asyncio.create_task(self.run(), name="ingestion-reindex")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._tenant_tasks.values()) if t is not None]
        self._task = None
        self._tenant_tasks.clear()
        await cancel_and_wait(*tasks)
