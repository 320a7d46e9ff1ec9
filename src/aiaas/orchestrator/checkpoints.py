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


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A ready checkpointer for ``url``; its tables are created on first use.

    ``memory://`` keeps threads in process (tests), ``sqlite:///path`` (also ``sqlite+aiosqlite``)
    uses a SQLite file, ``postgresql://`` (also ``postgresql+asyncpg``) a PostgreSQL database
    through psycopg.
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

        async with AsyncPostgresSaver.from_conn_string(_postgres_conninfo(url)) as saver:
            await saver.setup()
            yield saver
        return
    raise ValueError(f"no checkpointer for {driver!r} URLs")
