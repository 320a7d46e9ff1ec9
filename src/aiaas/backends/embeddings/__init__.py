"""Embeddings: text -> unit vectors. OpenAI-compatible ``/v1/embeddings``, a local
sentence-transformers model, or none (lexical search only, the embedded default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from aiaas.kit.errors import ServiceUnavailable


class EmbeddingError(ServiceUnavailable):
    """The embeddings backend failed after its retries (or cannot be loaded)."""

    code = "embeddings_unavailable"
    title = "Embeddings unavailable"


class Embeddings(Protocol):
    """An embeddings backend. ``embed`` returns one L2-normalised float32 row per text."""

    kind: str
    label: str
    """Identifies the vector space (provider and model); vectors of different labels never mix."""

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` (shape ``(len(texts), dim)``); raises :class:`EmbeddingError`."""
        ...

    async def close(self) -> None: ...


__all__ = ["EmbeddingError", "Embeddings"]
