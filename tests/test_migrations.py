"""Migrations run up, down and up again on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from aiaas.config import Settings
from aiaas.kit.db import Base
from aiaas.migrations import runner
from tests.conftest import make_settings
from tests.services import create_scratch_database, drop_scratch_database, need_services


async def _tables(settings: Settings) -> set[str]:
    engine = create_async_engine(settings.owner_database_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {
                "alembic_version"
            }
    finally:
        await engine.dispose()


async def _cycle(settings: Settings) -> None:
    await asyncio.to_thread(runner.upgrade, settings)
    assert await asyncio.to_thread(runner.current, settings) == runner.heads(settings)
    tables = await _tables(settings)
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    await asyncio.to_thread(runner.downgrade, settings)
    assert await _tables(settings) == set()
    await asyncio.to_thread(runner.upgrade, settings)
    assert await _tables(settings) == tables


async def test_up_down_up_sqlite(tmp_path: Path) -> None:
    await _cycle(make_settings(tmp_path))


async def test_up_down_up_postgres(tmp_path: Path) -> None:
    await need_services("postgresql")
    scratch = await create_scratch_database()
    try:
        await _cycle(
            make_settings(
                tmp_path, database_url=scratch.owner_url, database_app_role=scratch.app_role
            )
        )
    finally:
        await drop_scratch_database(scratch)


def test_single_head(tmp_path: Path) -> None:
    """Domain branches are joined, so `aiaas migrate down --revision -1` is never ambiguous."""
    assert len(runner.heads(make_settings(tmp_path))) == 1
