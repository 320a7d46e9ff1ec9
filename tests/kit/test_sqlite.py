"""The embedded database's connections: one trip to SQLite's thread per statement, none for a
commit or rollback with nothing to end, and the DBAPI behaviour SQLAlchemy relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from aiaas.kit.db import Database
from aiaas.kit.sqlite import OneTripConnection


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}", pool_size=1)
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


async def _driver(db: Database) -> OneTripConnection:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
    assert isinstance(driver, OneTripConnection)
    return driver


def _count_trips(driver: OneTripConnection, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    trips: list[Any] = []
    original = driver._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(fn)
        return await original(fn, *args, **kwargs)

    monkeypatch.setattr(driver, "_execute", counted)
    return trips


async def test_a_write_transaction_takes_one_trip_per_statement_and_one_to_commit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = _count_trips(await _driver(db), monkeypatch)
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO items (name) VALUES ('a')"))
        await session.execute(
            text("INSERT INTO items (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
    # two statements and the commit; returning the connection to the pool costs nothing
    assert len(trips) == 3


async def test_a_read_takes_one_trip_and_nothing_to_end_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = _count_trips(await _driver(db), monkeypatch)
    async with db.transaction() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar_one() == 0
    assert len(trips) == 1


async def test_rows_are_read_whole_one_by_one_or_in_slices(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO items (name) VALUES (:name)"),
            [{"name": f"item-{n}"} for n in range(7)],
        )
    async with db.engine.connect() as conn:
        result = await conn.execute(text("SELECT name FROM items ORDER BY id"))
        assert result.fetchone() == ("item-0",)
        assert result.fetchmany(2) == [("item-1",), ("item-2",)]
        assert result.fetchall() == [(f"item-{n}",) for n in range(3, 7)]
        assert result.fetchone() is None
        streamed = await conn.stream(text("SELECT name FROM items ORDER BY id"))
        assert [row async for row in streamed.scalars()] == [f"item-{n}" for n in range(7)]


async def test_counts_ids_and_errors_reach_sqlalchemy(db: Database) -> None:
    async with db.transaction() as session:
        inserted = await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
        assert inserted.lastrowid == 1  # type: ignore[attr-defined]
        await session.execute(text("INSERT INTO items (name) VALUES ('y'), ('z')"))
        updated = await session.execute(text("UPDATE items SET name = name || '!'"))
        assert updated.rowcount == 3  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO items (name) VALUES ('q')"))
            await session.execute(text("INSERT INTO items (name) VALUES ('x!')"))
    # the failed transaction was rolled back whole and the connection works on
    async with db.transaction() as session:
        names = (await session.execute(text("SELECT name FROM items ORDER BY id"))).scalars()
        assert list(names) == ["x!", "y!", "z!"]


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(db: Database) -> None:
    session = db.session()
    await session.execute(text("INSERT INTO items (name) VALUES ('never committed')"))
    await session.close()  # back to the pool with the write lock held: it must be let go
    async with db.transaction() as other:
        await other.execute(text("INSERT INTO items (name) VALUES ('committed')"))
    async with db.transaction() as reader:
        names = (await reader.execute(text("SELECT name FROM items"))).scalars()
        assert list(names) == ["committed"]
