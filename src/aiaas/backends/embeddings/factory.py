"""Choose the embeddings backend from settings."""

from __future__ import annotations

from aiaas.backends.embeddings import Embeddings
from aiaas.backends.embeddings.config import EmbeddingsSettings


def build_embeddings(settings: EmbeddingsSettings) -> Embeddings | None:
    """The configured backend, or ``None`` for ``provider = none`` (lexical search only)."""
    if settings.provider == "openai":
        from aiaas.backends.embeddings.openai_backend import OpenAIEmbeddings

        return OpenAIEmbeddings(settings)
    if settings.provider == "local":
        from aiaas.backends.embeddings.local import LocalEmbeddings

        return LocalEmbeddings(settings)
    return None
