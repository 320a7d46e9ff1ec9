"""Root settings: one pydantic-settings model, env prefix ``AIAAS_``, nested sections with ``__``.

Embedded defaults (SQLite under ``./data``, in-process bus, in-memory cache and limiter) need no
set-up; production sets ``AIAAS_DATABASE_URL``, ``AIAAS_REDIS_URL`` and ``AIAAS_NATS_URL``.
"""

from __future__ import annotations

import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from aiaas.backends.llm.config import LLMSettings
from aiaas.chat.config import ChatSettings
from aiaas.ingestion.config import IngestionSettings
from aiaas.orchestrator.config import OrchestratorSettings
from aiaas.router.config import RouterSettings

ENV_PREFIX = "AIAAS_"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PlanSettings(BaseModel):
    """Limits of one named plan. Every limit in the platform is read from here."""

    model_config = {"extra": "forbid"}

    requests_per_minute: int = Field(120, ge=1, description="Requests a tenant may make per minute")
    api_key_requests_per_minute: int = Field(60, ge=1, description="Requests one API key may make")
    monthly_tokens: int = Field(1_000_000, ge=0)
    documents: int = Field(100, ge=0)
    document_bytes: int = Field(50 * 1024 * 1024, ge=0)
    seats: int = Field(3, ge=1)
    features: list[str] = Field(default_factory=list)


def _default_plans() -> dict[str, PlanSettings]:
    return {
        "free": PlanSettings(),
        "pro": PlanSettings(
            requests_per_minute=1_200,
            api_key_requests_per_minute=600,
            monthly_tokens=20_000_000,
            documents=5_000,
            document_bytes=2 * 1024**3,
            seats=25,
            features=["webhooks", "custom_workflows"],
        ),
        "enterprise": PlanSettings(
            requests_per_minute=12_000,
            api_key_requests_per_minute=6_000,
            monthly_tokens=500_000_000,
            documents=100_000,
            document_bytes=50 * 1024**3,
            seats=1_000,
            features=["webhooks", "custom_workflows", "sso", "audit_export"],
        ),
    }


class AuthSettings(BaseModel):
    model_config = {"extra": "forbid"}

    jwt_secret: SecretStr | None = Field(
        None,
        description="HMAC secret for JWTs; generated into the data dir when unset outside production",
    )
    api_key_secret: SecretStr | None = Field(
        None,
        description="HMAC key for API key hashes; generated into the data dir when unset outside production",
    )
    jwt_issuer: str = "aiaas"
    jwt_audience: str = "aiaas-api"
    access_token_ttl_seconds: int = Field(900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=300)
    credential_cache_ttl_seconds: float = Field(
        5.0, ge=0, description="How long a verified API key or tenant status is cached in process"
    )
    login_attempts_per_minute: int = Field(
        10, ge=1, description="Login attempts per client address"
    )

    @field_validator("jwt_secret", "api_key_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


class GatewaySettings(BaseModel):
    model_config = {"extra": "forbid"}

    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest accepted request body"
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Largest multipart upload")
    trust_forwarded_for: bool = Field(
        False, description="Take the client address from X-Forwarded-For"
    )
    hsts: bool = Field(False, description="Send Strict-Transport-Security (enable behind TLS)")


class EventsSettings(BaseModel):
    model_config = {"extra": "forbid"}

    stream: str = Field("AIAAS", description="JetStream stream name")
    relay_batch_size: int = Field(200, ge=1, le=10_000)
    relay_sweep_seconds: float = Field(5.0, gt=0, description="Full outbox sweep interval")
    max_deliver: int = Field(5, ge=1, le=100, description="Deliveries before a dead letter")
    ack_wait_seconds: float = Field(30.0, gt=0)
    redelivery_backoff_seconds: float = Field(0.5, ge=0)
    run_in_process: bool | None = Field(
        None,
        description="Run relay and consumers inside `aiaas serve` (default: when the bus is in memory)",
    )


class TelemetrySettings(BaseModel):
    model_config = {"extra": "forbid"}

    service_name: str = "aiaas"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://collector:4318"
    )
    trace_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    metrics_enabled: bool = True
    worker_metrics_port: int | None = Field(
        9464, ge=1, le=65535, description="Port of `aiaas worker`'s /metrics (unset: none)"
    )


class DemoSettings(BaseModel):
    model_config = {"extra": "forbid"}

    tenant_slug: str = "acme"
    tenant_name: str = "Acme Outdoor Co."
    owner_email: str = "owner@acme.example"
    owner_password: SecretStr = SecretStr("acme-demo-password")
    platform_admin_email: str = "admin@aiaas.local"
    platform_admin_password: SecretStr = SecretStr("platform-demo-password")


class Settings(BaseSettings):
    """Every setting of the platform. See `.env.example` for each one with its default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    database_url: str | None = Field(
        None, description="Owner connection (migrations); default SQLite file under data_dir"
    )
    database_app_url: str | None = Field(
        None, description="App connection; on PostgreSQL derived from database_url and the app role"
    )
    database_app_role: str = Field("aiaas_app", description="Login role the app uses on PostgreSQL")
    database_app_password: SecretStr | None = None
    database_pool_size: int = Field(10, ge=1, le=500)
    database_echo: bool = False

    gc_young_threshold: int = Field(
        10_000,
        ge=0,
        description="Allocations between young garbage collections in serve and worker (0: Python's 700)",
    )

    redis_url: str | None = None
    nats_url: str | None = None
    namespace: str = Field(
        "aiaas",
        pattern=r"^[a-z][a-z0-9_]{0,30}$",
        description="Prefix of Redis keys and bus subjects",
    )

    plans: dict[str, PlanSettings] = Field(default_factory=_default_plans)
    default_plan: str = "free"

    auth: AuthSettings = Field(default_factory=AuthSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)

    @field_validator("database_url", "database_app_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            url = make_url(value)
        except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
            raise ValueError(f"not a database URL: {exc}") from exc
        if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
            return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        if url.drivername in ("sqlite", "sqlite+aiosqlite"):
            return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
        raise ValueError("must be a postgresql:// or sqlite:// URL")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value and not all(
            u.strip().startswith(("nats://", "tls://", "ws://", "wss://")) for u in value.split(",")
        ):
            raise ValueError("must be nats:// or tls:// URLs, comma separated")
        return value or None

    @field_validator("database_app_role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not _ROLE_NAME.match(value):
            raise ValueError("must be a lower-case SQL identifier")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.default_plan not in self.plans:
            raise ValueError(
                f"default_plan {self.default_plan!r} is not one of plans {sorted(self.plans)}"
            )
        if self.env == "production":
            missing = [
                n
                for n, v in (
                    ("AIAAS_AUTH__JWT_SECRET", self.auth.jwt_secret),
                    ("AIAAS_AUTH__API_KEY_SECRET", self.auth.api_key_secret),
                )
                if v is None
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set when AIAAS_ENV=production")
        return self

    # ---- derived values -------------------------------------------------------------------
    @property
    def owner_database_url(self) -> str:
        """URL the migrations connect with (the schema owner)."""
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'aiaas.db').as_posix()}"

    @property
    def is_postgres(self) -> bool:
        return self.owner_database_url.startswith("postgresql")

    @property
    def app_database_url(self) -> str:
        """URL the application connects with: on PostgreSQL the non-owner app role."""
        if self.database_app_url:
            return self.database_app_url
        if not self.is_postgres:
            return self.owner_database_url
        url = make_url(self.owner_database_url).set(username=self.database_app_role)
        password = (
            self.database_app_password.get_secret_value() if self.database_app_password else None
        )
        return url.set(password=password).render_as_string(hide_password=False)

    @property
    def bus_kind(self) -> Literal["nats", "memory"]:
        return "nats" if self.nats_url else "memory"

    @property
    def run_events_in_process(self) -> bool:
        if self.events.run_in_process is not None:
            return self.events.run_in_process
        return self.bus_kind == "memory"

    @cached_property
    def jwt_secret(self) -> str:
        return self._secret(self.auth.jwt_secret, "jwt-secret")

    @cached_property
    def api_key_secret(self) -> bytes:
        return self._secret(self.auth.api_key_secret, "api-key-secret").encode()

    def _secret(self, configured: SecretStr | None, name: str) -> str:
        """A configured secret, or one generated once into the data dir (never outside production)."""
        if configured is not None:
            return configured.get_secret_value()
        path = self.data_dir / f".{name}"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value

    def plan(self, name: str) -> PlanSettings:
        """The limits of a plan; an unknown plan name falls back to the default plan."""
        return self.plans.get(name) or self.plans[self.default_plan]


class SettingsError(Exception):
    """Raised when settings are invalid; the message names each offending environment variable."""


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into a readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            name = ENV_PREFIX + "__".join(loc).upper() if loc else "settings"
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("Invalid settings:\n  " + "\n  ".join(lines)) from None
