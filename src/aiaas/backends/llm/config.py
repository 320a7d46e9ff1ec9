"""LLM settings (mounted as ``Settings.llm``; env ``AIAAS_LLM__BASE_URL`` ...) and the model
catalog."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from aiaas.backends.llm.types import UnknownModel

LOCAL_MODEL = "local-extractive"


class ModelInfo(BaseModel):
    """One model the platform may call, with its tier and prices (integer micro-dollars per million
    tokens)."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(
        "openai", min_length=1, max_length=50, description="Provider label (breakers, metrics)"
    )
    tier: str = Field(
        "medium", pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="e.g. small, medium, large"
    )
    context_window: int = Field(128_000, ge=256)
    input_price_micros_per_million: int = Field(
        0, ge=0, description="Micro-dollars per 1M input tokens"
    )
    output_price_micros_per_million: int = Field(
        0, ge=0, description="Micro-dollars per 1M output tokens"
    )

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        """Cost of a call in integer micro-dollars, rounded up so usage is never under-billed."""
        numerator = input_tokens * self.input_price_micros_per_million
        numerator += output_tokens * self.output_price_micros_per_million
        return -(-numerator // 1_000_000)


def _default_models() -> list[ModelInfo]:
    return [
        ModelInfo(
            name="gpt-4o-mini",
            tier="small",
            context_window=128_000,
            input_price_micros_per_million=150_000,
            output_price_micros_per_million=600_000,
        ),
        ModelInfo(
            name="gpt-4.1-mini",
            tier="medium",
            context_window=1_000_000,
            input_price_micros_per_million=400_000,
            output_price_micros_per_million=1_600_000,
        ),
        ModelInfo(
            name="gpt-4o",
            tier="large",
            context_window=128_000,
            input_price_micros_per_million=2_500_000,
            output_price_micros_per_million=10_000_000,
        ),
        ModelInfo(name=LOCAL_MODEL, provider="local", tier="local", context_window=32_000),
    ]


class LLMSettings(BaseModel):
    """How the platform reaches language models."""

    model_config = {"extra": "forbid"}

    provider: Literal["auto", "local", "openai"] = Field(
        "auto",
        description="`openai`: an OpenAI-compatible endpoint; `auto`: it when a key or URL is set",
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. http://vllm:8000/v1"
    )
    api_key: SecretStr | None = Field(None, description="API key for the endpoint")
    models: list[ModelInfo] = Field(default_factory=_default_models)
    default_tier: str = Field(
        "small", description="Tier used when a request names neither model nor tier"
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="Timeout of one HTTP attempt"
    )
    http_client: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description="HTTP client of the OpenAI-compatible provider: `aiohttp` (least CPU per call) "
        "or `httpx`; both pooled, both honour HTTP(S)_PROXY and NO_PROXY",
    )
    deadline_seconds: float = Field(
        90.0, gt=0, le=3600, description="Budget for all attempts and fallbacks"
    )
    max_retries: int = Field(
        2, ge=0, le=10, description="Retries per model after the first attempt"
    )
    retry_initial_backoff_seconds: float = Field(0.5, ge=0)
    retry_max_backoff_seconds: float = Field(8.0, ge=0)
    max_retry_after_seconds: float = Field(
        30.0, ge=0, description="Longer Retry-After waits are not honoured"
    )
    breaker_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open the breaker"
    )
    breaker_recovery_seconds: float = Field(30.0, ge=0, description="Open time before a probe call")
    fallback_models: list[str] = Field(
        default_factory=list, description="Models tried in order when the chosen one is unavailable"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LLMSettings:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("model names in the catalog must be unique")
        unknown = [m for m in self.fallback_models if m not in names]
        if unknown:
            raise ValueError(f"fallback_models not in the catalog: {unknown}")
        if self.models and self.default_tier not in {m.tier for m in self.models}:
            raise ValueError(f"default_tier {self.default_tier!r} has no model in the catalog")
        return self

    @property
    def uses_remote(self) -> bool:
        """Whether the OpenAI-compatible provider is selected."""
        if self.provider == "auto":
            return self.api_key is not None or self.base_url is not None
        return self.provider == "openai"

    def catalog(self) -> ModelCatalog:
        """The model catalog built from these settings."""
        return ModelCatalog(self.models, default_tier=self.default_tier)


class ModelCatalog:
    """Looks models up by name or tier and prices their usage."""

    def __init__(self, models: list[ModelInfo], *, default_tier: str) -> None:
        self._by_name = {m.name: m for m in models}
        self._by_tier: dict[str, ModelInfo] = {}
        for model in models:
            self._by_tier.setdefault(model.tier, model)
        self.default_tier = default_tier

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def tiers(self) -> set[str]:
        """Every tier with at least one model."""
        return set(self._by_tier)

    def get(self, name: str) -> ModelInfo:
        """The model called ``name``; raises :class:`UnknownModel`."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModel(f"model {name!r} is not in the catalog") from None

    def for_tier(self, tier: str) -> ModelInfo:
        """The first model of ``tier``; raises :class:`UnknownModel`."""
        try:
            return self._by_tier[tier]
        except KeyError:
            raise UnknownModel(f"no model of tier {tier!r} in the catalog") from None

    def resolve(self, model: str | None, tier: str | None) -> ModelInfo:
        """The model a request means: by name, else by tier, else the default tier."""
        if model:
            return self.get(model)
        return self.for_tier(tier or self.default_tier)
