"""Embeddings settings (mounted as ``Settings.ingestion.embeddings``; env
``AIAAS_INGESTION__EMBEDDINGS__PROVIDER`` ...)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class EmbeddingsSettings(BaseModel):
    """Which embedding model turns chunks and queries into vectors; ``none`` keeps search lexical."""

    model_config = {"extra": "forbid"}

    provider: Literal["none", "openai", "local"] = Field(
        "none",
        description="`none`: lexical search only; `openai`: an OpenAI-compatible /v1/embeddings; "
        "`local`: a sentence-transformers model from `model_path`",
    )
    model: str = Field("text-embedding-3-small", description="Model name sent to the endpoint")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL")
    api_key: SecretStr | None = Field(None, description="API key of the embeddings endpoint")
    model_path: str | None = Field(None, description="Directory of a sentence-transformers model")
    batch_size: int = Field(64, ge=1, le=2048, description="Texts per embeddings request")
    request_timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    retry_initial_backoff_seconds: float = Field(0.5, ge=0)
    retry_max_backoff_seconds: float = Field(10.0, ge=0)
    price_micros_per_million: int = Field(
        0,
        ge=0,
        description="Micro-dollars per 1M input tokens, for the metered usage events (0: unpriced)",
    )

    @model_validator(mode="after")
    def _complete(self) -> EmbeddingsSettings:
        if self.provider == "local" and not self.model_path:
            raise ValueError("provider 'local' needs model_path")
        return self

    def cost_micros(self, input_tokens: int) -> int:
        """Cost of ``input_tokens`` in integer micro-dollars, rounded up (never under-billed)."""
        return -(-input_tokens * self.price_micros_per_million // 1_000_000)

    @property
    def model_label(self) -> str:
        """What identifies the vectors: a change re-indexes the documents."""
        if self.provider == "local":
            return f"local:{self.model_path}"
        return f"{self.provider}:{self.model}"
