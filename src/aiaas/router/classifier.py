"""The intent classifier as the router uses it: trained artifacts loaded once per replica and kept in
a small LRU, and training run off the event loop.

:mod:`aiaas.router.intent` (scikit-learn) is imported on first use, so processes that never train
or load a model do not pay for it at start-up.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.router.config import DEFAULT_SKIP_ENCODER_CONFIDENCE
from aiaas.router.repository import IntentModelRepository

if TYPE_CHECKING:
    from aiaas.router.intent import IntentModel, IntentPrediction, Progress


def load_model(artifact: bytes) -> IntentModel:
    """An ``IntentModel`` from its stored bytes (CPU work: call in a thread)."""
    from aiaas.router.intent import IntentModel

    return IntentModel.from_bytes(artifact)


def train_model(
    examples: Sequence[tuple[str, str]],
    progress: Progress,
    seed: int = 0,
    method: Literal["auto", "sparse", "hybrid"] = "auto",
    skip_encoder_confidence: float = DEFAULT_SKIP_ENCODER_CONFIDENCE,
) -> IntentModel:
    """Train an ``IntentModel`` on ``(text, label)`` pairs (CPU work: call in a thread).

    ``skip_encoder_confidence`` is the setting ``router.intent_skip_encoder_confidence``; above 1
    a hybrid model encodes every message.
    """
    from aiaas.router.intent import IntentClassifier, IntentTrainingOptions

    skip = skip_encoder_confidence if skip_encoder_confidence <= 1.0 else None
    options = IntentTrainingOptions(method=method, skip_encoder_confidence=skip)
    return IntentClassifier.train(list(examples), progress=progress, seed=seed, options=options)


async def predict(model: IntentModel, text: str) -> IntentPrediction:
    """A prediction; models with a sentence encoder run in a thread, off the event loop."""
    if model.method == "sparse":
        return model.predict(text)
    return await asyncio.to_thread(model.predict, text)


class IntentModels:
    """Loaded intent models by version id, least recently used dropped first."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._models: OrderedDict[UUID, IntentModel] = OrderedDict()
        self._locks: dict[UUID, asyncio.Lock] = {}

    def loaded(self, model_id: UUID) -> IntentModel | None:
        """The model if this replica has it loaded (no I/O), else ``None``."""
        model = self._models.get(model_id)
        if model is not None:
            self._models.move_to_end(model_id)
        return model

    async def get(self, session: AsyncSession, model_id: UUID) -> IntentModel | None:
        model = self.loaded(model_id)
        if model is not None:
            return model
        lock = self._locks.setdefault(model_id, asyncio.Lock())
        async with lock:
            if model_id in self._models:
                return self._models[model_id]
            row = await IntentModelRepository(session).with_artifact(model_id)
            if row is None or row.artifact is None:
                return None
            model = await asyncio.to_thread(load_model, row.artifact)
            self.put(model_id, model)
        self._locks.pop(model_id, None)
        return model

    def put(self, model_id: UUID, model: IntentModel) -> None:
        self._models[model_id] = model
        self._models.move_to_end(model_id)
        while len(self._models) > self.size:
            self._models.popitem(last=False)
