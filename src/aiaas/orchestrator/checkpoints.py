"""LangGraph checkpointers for workflow threads: SQLite (embedded) or PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import make_url


def _postgres_conninfo(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class CheckpointSchemaMissing(RuntimeError):
    """The PostgreSQL checkpoint tables are missing or older than the library: run the migrations."""


@asynccontextmanager
async def open_checkpointer(
    url: str, *, setup: bool = True, pool_size: int = 10
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A ready checkpointer for ``url``.

    ``memory://`` keeps threads in process (tests), ``sqlite:///path`` (also ``sqlite+aiosqlite``)
    uses a SQLite file, ``postgresql://`` (also ``postgresql+asyncpg``) a PostgreSQL database
    through a psycopg connection pool. With ``setup`` the tables are created when missing (needs
    the right to create tables); without it, PostgreSQL's schema is only checked (the migrations
    create it) and :class:`CheckpointSchemaMissing` is raised when it is not current.
    """
    if url.startswith("memory:"):
        yield InMemorySaver()
        return
    driver = make_url(url).get_backend_name()
    if driver == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = make_url(url).database or ":memory:"
        async with AsyncSqliteSaver.from_conn_string(path) as saver:
            await saver.setup()
            yield saver
        return
    if driver == "postgresql":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            _postgres_conninfo(url),
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        await pool.open(wait=True, timeout=10)
        try:
            postgres = AsyncPostgresSaver(pool)
            if setup:
                await postgres.setup()
            else:
                await _check_postgres_schema(pool, len(postgres.MIGRATIONS) - 1)
            yield postgres
        finally:
            await pool.close()
        return
    raise ValueError(f"no checkpointer for {driver!r} URLs")


async def _check_postgres_schema(pool: Any, latest: int) -> None:
    async with pool.connection() as conn:
        try:
            row = await (
                await conn.execute("SELECT max(v) AS v FROM checkpoint_migrations")
            ).fetchone()
        except Exception as exc:
            raise CheckpointSchemaMissing(
                "the checkpoint tables are missing; run `aiaas migrate`"
            ) from exc
    found = row["v"] if row else None
    if found is None or found < latest:
        raise CheckpointSchemaMissing(
            f"the checkpoint schema is at version {found}, the library needs {latest}; "
            "run `aiaas migrate` (a new migration may be needed after a LangGraph upgrade)"
        )
