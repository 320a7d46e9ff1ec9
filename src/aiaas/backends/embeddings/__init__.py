"""Embeddings: text -> unit vectors. OpenAI-compatible ``/v1/embeddings``, a local
sentence-transformers model, or none (lexical search only, the embedded default)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Embedded:
    """Vectors and the input tokens they cost.

    ``tokens_reported`` says the count is the endpoint's own; otherwise it is an estimate.
    """

    vectors: np.ndarray
    input_tokens: int
    tokens_reported: bool


def estimate_tokens(texts: Sequence[str]) -> int:
    """The platform's token estimate for ``texts`` (when the backend reports no usage)."""
    from aiaas.ingestion.tokens import count_tokens

    return sum(count_tokens(text) for text in texts)


async def embed_with_usage(backend: Embeddings, texts: Sequence[str]) -> Embedded:
    """Embed ``texts`` with ``backend`` and say what it cost in input tokens.

    A backend with its own ``embed_with_usage`` (one reading the endpoint's usage) is asked
    directly; any other backend's tokens are estimated with the platform's tokenizer.
    """
    own = getattr(backend, "embed_with_usage", None)
    if own is not None:
        result: Embedded = await own(texts)
        return result
    vectors = await backend.embed(texts)
    return Embedded(vectors, estimate_tokens(texts), tokens_reported=False)


__all__ = ["Embedded", "EmbeddingError", "Embeddings", "embed_with_usage", "estimate_tokens"]
