"""A sentence-transformers model loaded from a local directory (optional extra), in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from aiaas.backends.embeddings import EmbeddingError
from aiaas.backends.embeddings.config import EmbeddingsSettings
from aiaas.ingestion.errors import EmbedderUnavailable
from aiaas.ingestion.retrieval.dense import LocalSentenceTransformerEmbedder


class LocalEmbeddings:
    """Runs :class:`LocalSentenceTransformerEmbedder` off the event loop."""

    kind = "local"

    def __init__(self, settings: EmbeddingsSettings) -> None:
        assert settings.model_path is not None
        self.label = settings.model_label
        self._embedder = LocalSentenceTransformerEmbedder(
            settings.model_path, batch_size=settings.batch_size
        )

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors computed in a worker thread; the model loads on first use."""
        try:
            return await asyncio.to_thread(self._embedder.embed, list(texts))
        except EmbedderUnavailable as exc:
            raise EmbeddingError(exc.detail) from exc

    async def close(self) -> None:
        return None
