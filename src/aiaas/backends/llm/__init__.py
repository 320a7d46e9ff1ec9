"""Language models behind one protocol: any OpenAI-compatible endpoint, or the embedded local
provider."""

from __future__ import annotations

from aiaas.backends.llm.config import LLMSettings, ModelCatalog, ModelInfo
from aiaas.backends.llm.local import LocalProvider
from aiaas.backends.llm.openai_provider import OpenAICompatibleProvider
from aiaas.backends.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Citation,
    Document,
    LLMError,
    LLMProvider,
    ResponseSchema,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)


def build_llm_provider(settings: LLMSettings) -> LLMProvider:
    """The provider the settings ask for; the local provider also serves ``local`` models in
    fallbacks."""
    local = LocalProvider()
    if settings.uses_remote:
        return OpenAICompatibleProvider(settings, local=local)
    return local


__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "Citation",
    "Document",
    "LLMError",
    "LLMProvider",
    "LLMSettings",
    "LocalProvider",
    "ModelCatalog",
    "ModelInfo",
    "OpenAICompatibleProvider",
    "ResponseSchema",
    "StreamDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "build_llm_provider",
]
