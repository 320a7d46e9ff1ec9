"""An aiosqlite connection whose statements each take one trip to its worker thread.

aiosqlite runs every call on the connection's own thread and hands the result back through the
event loop: a queue put, a thread wake-up, a hand-over of the interpreter lock and a loop wake-up.
Through SQLAlchemy's adapter a statement costs three such trips (open a cursor, execute, close it)
and every pooled connection a fourth on its way back to the pool (a rollback, even after a
commit). On a busy embedded replica those trips cost more CPU than the statements: recording a
chat completion (two inserts and a commit) took eight.

:class:`OneTripConnection` keeps aiosqlite's thread and queue and changes only how a cursor
works: ``execute`` runs the statement, fetches its rows and closes the SQLite cursor in one trip;
a commit or rollback with no transaction open (SQLite reports it) takes none. SQLAlchemy sees the
same DBAPI surface, so nothing above the engine changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

_Rows = list[Any]
_Description = tuple[tuple[Any, ...], ...] | None


def _run(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[_Rows, _Description, int, int | None]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description is not None else []
        return rows, description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor:
    """A cursor whose statement runs, fetches and closes in one trip; its rows are then read
    from memory (SQLite hands them over at once anyway: there is no server to stream from)."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: _Rows = []
        self._position = 0
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        """Run one statement (and fetch what it returns) in one trip to the worker thread."""
        await self._run(sql, parameters, many=False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        """Run one statement for each set of parameters, in one trip."""
        await self._run(sql, list(parameters), many=True)
        return self

    async def _run(self, sql: str, parameters: Any, *, many: bool) -> None:
        rows, description, rowcount, lastrowid = await self._connection.call(
            _run, sql, parameters, many
        )
        self._rows, self._position = rows, 0
        self.description, self.rowcount, self.lastrowid = description, rowcount, lastrowid

    async def fetchone(self) -> Any:
        """The next row, or ``None``."""
        if self._position >= len(self._rows):
            return None
        row = self._rows[self._position]
        self._position += 1
        return row

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        """Up to ``size`` (default :attr:`arraysize`) further rows."""
        end = self._position + (size or self.arraysize)
        rows = self._rows[self._position : end]
        self._position += len(rows)
        return rows

    async def fetchall(self) -> Sequence[Any]:
        """The rows not read yet."""
        rows = self._rows[self._position :]
        self._position = len(self._rows)
        return rows

    async def close(self) -> None:
        """Forget the rows (the SQLite cursor was closed in the statement's trip)."""
        self._rows, self._position = [], 0

    async def setinputsizes(self, *_sizes: Any) -> None:
        """Accepted and ignored, as SQLite's own cursor does."""


class OneTripConnection(aiosqlite.Connection):
    """An :class:`aiosqlite.Connection` with :class:`OneTripCursor` cursors and no trip for a
    commit or rollback when no transaction is open."""

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(sqlite3_connection, *args)`` on the connection's thread."""
        return await self._execute(partial(function, self._conn, *args))

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """A cursor of this connection (nothing runs until it executes)."""
        return OneTripCursor(self)

    async def commit(self) -> None:
        """Commit the transaction, if one is open."""
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        """Roll back the transaction, if one is open."""
        if self._conn.in_transaction:
            await super().rollback()


def one_trip_connector(database: str, **connect_args: Any) -> Callable[[], aiosqlite.Connection]:
    """An ``async_creator`` for SQLAlchemy's ``sqlite+aiosqlite`` engine that opens
    :class:`OneTripConnection` s (``connect_args`` go to :func:`sqlite3.connect`)."""

    def connect() -> aiosqlite.Connection:
        connection = OneTripConnection(partial(sqlite3.connect, database, **connect_args), 64)
        # As SQLAlchemy does for aiosqlite's own connections: a thread left behind by a
        # connection that was never closed must not keep the process alive.
        connection._thread.daemon = True
        return connection

    return connect
