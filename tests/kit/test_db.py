"""SQLite transactions in one process with concurrent writers (embedded mode's background consumers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from aiaas.kit.db import Database


async def test_sqlite_read_then_write_survives_a_concurrent_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'concurrent.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE items (name TEXT)"))
        has_read = asyncio.Event()

        async def read_then_write() -> None:
            async with db.transaction(write=True) as session:
                await session.execute(text("SELECT count(*) FROM items"))
                has_read.set()
                await asyncio.sleep(0.2)  # the other writer tries to commit meanwhile
                await session.execute(text("INSERT INTO items VALUES ('first')"))

        async def other_writer() -> None:
            await has_read.wait()
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO items VALUES ('second')"))

        await asyncio.gather(read_then_write(), other_writer())
        async with db.transaction() as session:
            names = (
                (await session.execute(text("SELECT name FROM items ORDER BY rowid")))
                .scalars()
                .all()
            )
        # the second writer queued behind the first instead of breaking its snapshot
        assert names == ["first", "second"]
    finally:
        await db.dispose()


async def test_sqlite_read_transaction_inside_a_write_transaction(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE items (name TEXT)"))
        async with db.transaction(write=True) as outer:
            await outer.execute(text("INSERT INTO items VALUES ('a')"))
            async with db.transaction() as inner:
                # WAL readers never wait for the writer; they see the last committed state
                assert (await inner.execute(text("SELECT count(*) FROM items"))).scalar_one() == 0
    finally:
        await db.dispose()
