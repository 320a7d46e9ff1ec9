"""Settings: embedded defaults, production URLs, and start-up errors that name the bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiaas.config import SettingsError, load_settings


def test_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(_env_file=None)
    assert settings.owner_database_url.startswith("sqlite+aiosqlite:///data/")
    assert settings.bus_kind == "memory" and settings.run_events_in_process
    assert settings.redis_url is None


def test_postgres_url_is_normalised_and_app_role_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_DATABASE_URL", "postgresql://owner:pw@db:5432/aiaas")
    monkeypatch.setenv("AIAAS_DATABASE_APP_PASSWORD", "app-secret")
    settings = load_settings(_env_file=None)
    assert settings.owner_database_url == "postgresql+asyncpg://owner:pw@db:5432/aiaas"
    assert settings.app_database_url == "postgresql+asyncpg://aiaas_app:app-secret@db:5432/aiaas"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AIAAS_DATABASE_URL", "mysql://x"),
        ("AIAAS_REDIS_URL", "http://localhost"),
        ("AIAAS_NATS_URL", "localhost:4222"),
        ("AIAAS_PORT", "70000"),
        ("AIAAS_GATEWAY__MAX_BODY_BYTES", "ten"),
        ("AIAAS_AUTH__JWT_SECRET", "short"),
        ("AIAAS_DEFAULT_PLAN", "platinum"),
        ("AIAAS_DATABASE_APP_ROLE", "Robert'); DROP"),
    ],
)
def test_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert name in message or (name == "AIAAS_DEFAULT_PLAN" and "default_plan" in message), message


def test_production_requires_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_ENV", "production")
    with pytest.raises(SettingsError, match="AIAAS_AUTH__JWT_SECRET"):
        load_settings(_env_file=None)
