"""The embedded, offline language model (extractive answers with citations, deterministic
extraction)."""

from aiaas.backends.llm.local.provider import LocalProvider

__all__ = ["LocalProvider"]
