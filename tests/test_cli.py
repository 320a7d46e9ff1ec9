"""The `aiaas` command line in embedded mode: migrate, demo, tenants, keys, and bad settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiaas.cli import app
from aiaas.config import load_settings
from aiaas.migrations import runner as migrations

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIAAS_TELEMETRY__LOG_LEVEL", "WARNING")
    for name in ("AIAAS_DATABASE_URL", "AIAAS_REDIS_URL", "AIAAS_NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def _ok(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, f"{args}: {result.output} {result.exception!r}"
    return result.output


def test_migrate_demo_tenants_and_keys(data_dir: Path) -> None:
    migrated = _ok("migrate", "up")
    assert all(head in migrated for head in migrations.heads(load_settings()))
    demo = _ok("demo")
    assert "Demo tenant 'acme'" in demo and "owner@acme.example" in demo
    demo_key = (data_dir / "demo-api-key").read_text().strip()
    assert demo_key.startswith("ak_acme_") and demo_key in demo
    assert demo_key in _ok("demo")  # idempotent: the same key is shown again, no second tenant

    created = _ok(
        "tenants",
        "create",
        "globex",
        "--name",
        "Globex",
        "--owner-email",
        "o@globex.example",
        "--plan",
        "free",
        input="a-long-password\na-long-password\n",
    )
    assert "created tenant globex" in created
    listing = _ok("tenants", "list")
    assert "acme" in listing and "globex" in listing

    made = _ok("keys", "create", "--tenant", "globex", "--name", "ci", "--scope", "tenant:read")
    key = re.search(r"ak_globex_\w+", made)
    assert key is not None
    prefix = key.group(0).split("_")[2]
    assert "revoked key" in _ok("keys", "revoke", "--tenant", "globex", prefix)
    assert "now disabled" in _ok("tenants", "disable", "globex")


def test_cli_refuses_bad_input(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ok("migrate", "up")
    bad_scope = runner.invoke(
        app, ["keys", "create", "--tenant", "acme", "--name", "x", "--scope", "root"]
    )
    assert bad_scope.exit_code == 2 and "unknown scopes: root" in bad_scope.output
    missing = runner.invoke(app, ["tenants", "disable", "nobody"])
    assert missing.exit_code == 1 and "tenant_not_found" in missing.output
    bad_slug = runner.invoke(
        app,
        ["tenants", "create", "Bad Slug", "--name", "x", "--owner-email", "a@b.example"],
        input="a-long-password\na-long-password\n",
    )
    assert bad_slug.exit_code == 2 and "slug" in bad_slug.output
    monkeypatch.setenv("AIAAS_REDIS_URL", "http://nope")
    bad_setting = runner.invoke(app, ["tenants", "list"])
    assert bad_setting.exit_code == 2 and "AIAAS_REDIS_URL" in bad_setting.output
