"""Worker jobs of the router: training a tenant's intent classifier when one is requested."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import time
from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.cache import Cache
from aiaas.events import record_event
from aiaas.events.consumer import Consumer
from aiaas.events.envelope import EventEnvelope, bus_subject
from aiaas.kit.clock import utcnow
from aiaas.kit.errors import AppError
from aiaas.router.classifier import train_model
from aiaas.router.config import DEFAULT_SKIP_ENCODER_CONFIDENCE
from aiaas.router.events import IntentModelTrained
from aiaas.router.repository import IntentExampleRepository, IntentModelRepository
from aiaas.router.training import ModelStatus, progress_key

log = logging.getLogger(__name__)

PROGRESS_TTL_SECONDS = 3600.0
PROGRESS_STEP = 0.02
MAX_ERROR_CHARS = 2000


class IntentTrainingConsumer(Consumer):
    """Trains the requested intent model version in a thread; the artifact commits with the inbox
    claim, so a redelivery after a crash trains again and a duplicate does nothing."""

    name = "router_intent_training"

    def __init__(
        self,
        cache: Cache,
        namespace: str,
        method: Literal["auto", "sparse", "hybrid"] = "auto",
        skip_encoder_confidence: float = DEFAULT_SKIP_ENCODER_CONFIDENCE,
    ) -> None:
        self.cache = cache
        self.method: Literal["auto", "sparse", "hybrid"] = method
        self.skip_encoder_confidence = skip_encoder_confidence
        self.subject_filter = bus_subject(namespace, "router.intent_training.requested")

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        if envelope.type != "router.intent_training.requested":
            return
        model_id = UUID(str(envelope.payload["model_id"]))
        models = IntentModelRepository(session)
        row = await models.get(model_id)
        if row is None or row.status != ModelStatus.QUEUED:
            return
        pairs = await IntentExampleRepository(session).pairs()
        reporter = _ProgressReporter(self.cache, model_id, asyncio.get_running_loop())
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(
                train_model, pairs, reporter, 0, self.method, self.skip_encoder_confidence
            )
            artifact = await asyncio.to_thread(model.to_bytes)
        except (ValueError, TypeError) as exc:  # bad examples: a final answer, not a retry
            row.status = ModelStatus.FAILED
            row.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        else:
            info = model.info
            row.status = ModelStatus.READY
            row.artifact = artifact
            row.metrics = {
                "method": info.method,
                "examples": info.examples,
                "labels": len(info.labels),
                "out_of_scope_threshold": info.threshold,
                "skip_encoder_confidence": info.skip_encoder,
                "validation": info.validation,
                "train_seconds": info.train_seconds,
                "job_seconds": round(time.perf_counter() - started, 3),
                "artifact_bytes": len(artifact),
            }
            row.trained_at = utcnow()
        await reporter.flush()
        await session.flush()
        await record_event(
            session,
            "router.intent_model.trained",
            IntentModelTrained(
                model_id=row.id, version=row.version, status=row.status, error=row.error
            ),
            subject_type="router_intent_model",
            subject_id=row.id,
        )
        log.info("intent model %s v%s: %s", row.id, row.version, row.status)


class _ProgressReporter:
    """Called from the training thread; publishes progress to the cache from the event loop."""

    def __init__(self, cache: Cache, model_id: UUID, loop: asyncio.AbstractEventLoop) -> None:
        self.cache = cache
        self.key = progress_key(model_id)
        self.loop = loop
        self.last = -1.0
        self.pending: set[concurrent.futures.Future[None]] = set()

    def __call__(self, fraction: float, stage: str = "") -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        if fraction - self.last < PROGRESS_STEP and fraction < 1.0:
            return
        self.last = fraction
        future = asyncio.run_coroutine_threadsafe(self._publish(fraction, stage), self.loop)
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)

    async def _publish(self, fraction: float, stage: str) -> None:
        value = json.dumps({"progress": round(fraction, 4), "stage": stage[:100]})
        try:
            await self.cache.set(self.key, value.encode(), ttl_seconds=PROGRESS_TTL_SECONDS)
        except AppError:
            log.debug("progress not published", exc_info=True)

    async def flush(self) -> None:
        for future in list(self.pending):
            await asyncio.wrap_future(future)
