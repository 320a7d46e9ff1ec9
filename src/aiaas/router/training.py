"""Intent training for a tenant: labelled examples in, versioned classifier artifacts out.

Training itself runs in the worker (:mod:`aiaas.router.tasks`); its progress is published in the
platform cache while it runs, so any replica can report it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.cache import Cache
from aiaas.events import record_event
from aiaas.kit.db import session_tenant
from aiaas.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from aiaas.router.events import (
    IntentExamplesUploaded,
    IntentModelActivated,
    IntentTrainingRequested,
)
from aiaas.router.models import IntentExample, IntentModelVersion
from aiaas.router.repository import IntentExampleRepository, IntentModelRepository
from aiaas.router.state import RoutingState

MIN_LABELS = 2
MIN_EXAMPLES_PER_LABEL = 2


class ModelStatus:
    QUEUED = "queued"
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


def progress_key(model_id: UUID) -> str:
    return f"router:training:{model_id}"


async def add_examples(
    session: AsyncSession, examples: Sequence[tuple[str, str]], *, replace: bool
) -> dict[str, int]:
    """Store labelled examples (optionally replacing the tenant's set); the label counts after."""
    repo = IntentExampleRepository(session)
    if replace:
        await repo.clear()
    session.add_all(IntentExample(text=text, label=label) for text, label in examples)
    await session.flush()
    await record_event(
        session,
        "router.intent_examples.uploaded",
        IntentExamplesUploaded(added=len(examples), replaced=replace),
        subject_type="router_intent_examples",
        subject_id=str(session_tenant(session)),
    )
    return await repo.label_counts()


async def label_counts(session: AsyncSession) -> dict[str, int]:
    return await IntentExampleRepository(session).label_counts()


async def request_training(session: AsyncSession) -> IntentModelVersion:
    """Queue a new model version; the worker trains it on the examples stored at that time."""
    counts = await IntentExampleRepository(session).label_counts()
    usable = {label: n for label, n in counts.items() if n >= MIN_EXAMPLES_PER_LABEL}
    if len(usable) < MIN_LABELS:
        raise ValidationFailed(
            f"training needs at least {MIN_LABELS} labels with {MIN_EXAMPLES_PER_LABEL}"
            f" examples each; have {counts}",
            code="not_enough_examples",
        )
    models = IntentModelRepository(session)
    row = await models.add(
        IntentModelVersion(
            version=await models.next_version(),
            status=ModelStatus.QUEUED,
            examples=sum(counts.values()),
            labels=sorted(counts),
        )
    )
    await record_event(
        session,
        "router.intent_training.requested",
        IntentTrainingRequested(model_id=row.id, version=row.version, examples=row.examples),
        subject_type="router_intent_model",
        subject_id=row.id,
    )
    return row


async def get_model(session: AsyncSession, model_id: UUID) -> IntentModelVersion:
    row = await IntentModelRepository(session).get(model_id)
    if row is None:
        raise NotFound("no such intent model", code="intent_model_not_found")
    return row


async def progress(cache: Cache, row: IntentModelVersion) -> tuple[float, str | None]:
    """Fraction done (1 when ready) and the training stage the worker last reported."""
    if row.status == ModelStatus.READY:
        return 1.0, None
    if row.status != ModelStatus.QUEUED:
        return 0.0, None
    try:
        raw = await cache.get(progress_key(row.id))
    except AppError:
        return 0.0, None
    if not raw:
        return 0.0, None
    report = json.loads(raw)
    return float(report["progress"]), str(report["stage"]) or None


async def activate(
    session: AsyncSession, state: RoutingState, model_id: UUID
) -> IntentModelVersion:
    """Make a trained version the one decisions use."""
    tenant_id = session_tenant(session)
    repo = IntentModelRepository(session)
    row = await get_model(session, model_id)
    if row.status != ModelStatus.READY:
        raise Conflict(f"model version is {row.status}, not ready", code="intent_model_not_ready")
    await repo.deactivate_all()
    row.active = True
    await session.flush()
    await record_event(
        session,
        "router.intent_model.activated",
        IntentModelActivated(model_id=row.id, version=row.version),
        subject_type="router_intent_model",
        subject_id=row.id,
    )
    if tenant_id is not None:
        state.invalidate_after_commit(session, tenant_id)
    return row
