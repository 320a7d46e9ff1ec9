"""OpenAI-compatible ``/v1/embeddings`` (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM ...)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
import openai

from aiaas.backends.embeddings import Embedded, EmbeddingError, estimate_tokens
from aiaas.backends.embeddings.config import EmbeddingsSettings
from aiaas.backends.llm.openai_provider import is_retryable, retry_after_of
from aiaas.ingestion.retrieval.dense import l2_normalize
from aiaas.kit.resilience import RetryPolicy, retry_async

_KEYLESS = "no-key"


class OpenAIEmbeddings:
    """Batched embedding calls with the LLM layer's retry policy: only connection errors,
    timeouts, 408, 429 and 5xx are retried, with jittered backoff or the server's Retry-After.

    ``usage_tokens`` is the running total of input tokens (reported by the endpoint, or estimated
    for a response without usage); :meth:`embed_with_usage` gives one call's share, for metering.
    """

    kind = "openai"

    def __init__(
        self,
        settings: EmbeddingsSettings,
        *,
        client: openai.AsyncOpenAI | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.label = settings.model_label
        key = settings.api_key.get_secret_value() if settings.api_key else _KEYLESS
        self._client = client or openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.request_timeout_seconds,
        )
        self._policy = RetryPolicy(
            max_attempts=1 + settings.max_retries,
            initial_backoff=settings.retry_initial_backoff_seconds,
            max_backoff=settings.retry_max_backoff_seconds,
        )
        self._sleep = sleep
        self.usage_tokens = 0

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed in batches of ``batch_size``; every batch is retried on transient errors."""
        return (await self.embed_with_usage(texts)).vectors

    async def embed_with_usage(self, texts: Sequence[str]) -> Embedded:
        """Vectors plus the input tokens of every batch: the endpoint's ``usage`` when it sends
        one, else the platform's estimate (then ``tokens_reported`` is false)."""
        rows: list[np.ndarray] = []
        tokens, reported = 0, True
        size = self.settings.batch_size
        for start in range(0, len(texts), size):
            batch = list(texts[start : start + size])
            vectors, used = await self._batch(batch)
            rows.append(vectors)
            if used is None:
                used, reported = estimate_tokens(batch), False
            tokens += used
        self.usage_tokens += tokens
        if not rows:
            return Embedded(np.zeros((0, 0), dtype=np.float32), 0, reported)
        return Embedded(np.vstack(rows), tokens, reported)

    async def _batch(self, batch: list[str]) -> tuple[np.ndarray, int | None]:
        async def call(_attempt: int) -> openai.types.CreateEmbeddingResponse:
            return await self._client.embeddings.create(
                model=self.settings.model, input=batch, encoding_format="float"
            )

        try:
            response = await retry_async(
                call,
                policy=self._policy,
                retryable=is_retryable,
                retry_after=retry_after_of,
                sleep=self._sleep,
            )
        except (openai.OpenAIError, TimeoutError) as exc:
            raise EmbeddingError(f"embeddings request failed: {exc}") from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(data)}")
        used = None
        if response.usage is not None and response.usage.prompt_tokens is not None:
            used = int(response.usage.prompt_tokens)
        vectors = np.asarray([item.embedding for item in data], dtype=np.float32)
        return l2_normalize(vectors), used

    async def close(self) -> None:
        await self._client.close()
