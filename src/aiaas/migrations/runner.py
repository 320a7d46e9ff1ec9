"""Run the Alembic migrations programmatically, as the schema owner."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from aiaas.config import Settings

HERE = Path(__file__).parent


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at the packaged scripts, carrying the owner URL and app role."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["owner_url"] = settings.owner_database_url
    cfg.attributes["app_role"] = settings.database_app_role
    cfg.attributes["app_password"] = (
        settings.database_app_password.get_secret_value()
        if settings.database_app_password
        else None
    )
    return cfg


def _prepare(settings: Settings) -> None:
    if not settings.is_postgres:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db_file = settings.owner_database_url.split("///", 1)[-1]
        Path(db_file).parent.mkdir(parents=True, exist_ok=True)


def upgrade(settings: Settings, revision: str = "heads") -> None:
    """Migrate up (default: to every head). Blocking: call from a thread inside an event loop."""
    _prepare(settings)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    """Migrate down (default: everything)."""
    command.downgrade(alembic_config(settings), revision)


def heads(settings: Settings) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())


def current(settings: Settings) -> set[str]:
    """The revisions the database is at (empty when never migrated)."""

    async def read() -> set[str]:
        engine = create_async_engine(settings.owner_database_url)
        try:
            async with engine.connect() as conn:
                return set(
                    await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
                )
        finally:
            await engine.dispose()

    _prepare(settings)
    return asyncio.run(read())
