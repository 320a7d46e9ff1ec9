"""Database: declarative base, engine and sessions, and THE tenant chokepoint.

A session is bound to one tenant (``session.info["tenant_id"]``). Two mechanisms scope it:

* every ORM SELECT/UPDATE/DELETE of a :class:`TenantMixin` model gets ``tenant_id = <bound tenant>``
  added (a session with no tenant gets a criterion no row meets: no tenant, no rows);
* new tenant rows get the bound tenant, and a row carrying another tenant's id fails the flush.

On PostgreSQL each transaction also runs ``set_config('app.tenant_id', <tenant>, true)`` so the
row-level security policies apply the same rule inside the database, as a second wall.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    FromClause,
    MetaData,
    Table,
    Uuid,
    event,
    insert,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

from aiaas.kit.clock import as_utc, utcnow
from aiaas.kit.ids import new_id
from aiaas.kit.sqlite import one_trip_connector

NO_TENANT = UUID(int=0)
"""Criterion value used when a session has no tenant: no row has it, so nothing is returned."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use kit.clock.utcnow()")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), UUID: Uuid(), dict[str, Any]: JSON()}


class IdMixin:
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantMixin:
    """Marks a tenant-owned table. Every such table gets row-level security on PostgreSQL."""

    @declared_attr
    def tenant_id(cls) -> Mapped[UUID]:
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class TenantMismatch(RuntimeError):
    """A write tried to put a row into a tenant other than the session's."""


def session_tenant(session: Session | AsyncSession) -> UUID | None:
    """The tenant a session is bound to, or ``None``."""
    return session.info.get("tenant_id")


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if (
        state.execution_options.get("tenant_scope") is False
        or state.is_column_load
        or state.is_relationship_load
    ):
        return
    tenant_id = state.session.info.get("tenant_id") or NO_TENANT
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    for obj in session.new:
        if not isinstance(obj, TenantMixin):
            continue
        current = obj.__dict__.get("tenant_id")
        if current is None:
            if tenant_id is None:
                raise TenantMismatch(f"{type(obj).__name__} written without a tenant context")
            obj.tenant_id = tenant_id
        elif current != tenant_id:
            raise TenantMismatch(f"{type(obj).__name__} belongs to another tenant than the session")
    for obj in session.dirty:
        if isinstance(obj, TenantMixin) and obj.__dict__.get("tenant_id") != tenant_id:
            raise TenantMismatch(f"{type(obj).__name__} is not in the session's tenant")


@event.listens_for(Session, "after_begin")
def _set_rls_tenant(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant_id = session.info.get("tenant_id")
    connection.execute(
        text("SELECT set_config('app.tenant_id', :tenant, true)"),
        {"tenant": str(tenant_id) if tenant_id else ""},
    )


async def insert_rows(
    session: AsyncSession, table: FromClause, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert ``rows`` (column values; one key set for all) into ``table`` with one statement.

    For append-only rows written in bulk, where the unit of work's bookkeeping per object would
    cost more than the insert. A tenant table's rows get the session's tenant; a row naming
    another tenant raises :class:`TenantMismatch`, as an ORM flush would.
    """
    if not rows:
        return
    if "tenant_id" in table.c:
        tenant_id = session_tenant(session)
        if tenant_id is None:
            raise TenantMismatch(f"{table.description} rows written without a tenant context")
        stamped = []
        for row in rows:
            current = row.get("tenant_id")
            if current is not None and current != tenant_id:
                raise TenantMismatch(
                    f"a {table.description} row belongs to another tenant than the session"
                )
            stamped.append(row if current is not None else {**row, "tenant_id": tenant_id})
        rows = stamped
    await session.execute(insert(cast(Table, table)), list(rows))


class Database:
    """One engine and its session factory. The app uses the non-owner role's URL."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        # Both pools keep ``pool_size`` connections open: on SQLite too, where opening one (a
        # file, a worker thread and the pragmas) costs more than most transactions.
        kwargs: dict[str, Any] = {
            "echo": echo,
            "pool_pre_ping": self.is_postgres,
            "pool_size": pool_size,
            "max_overflow": pool_size,
        }
        if self.is_postgres:
            kwargs.update(pool_recycle=1800)
        else:
            kwargs.update(async_creator=_sqlite_connector(url, timeout=30))
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if not self.is_postgres:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    def session(self, tenant_id: UUID | None = None) -> AsyncSession:
        """A new session bound to ``tenant_id`` (``None``: platform-level tables only)."""
        session = self._sessions()
        session.info["tenant_id"] = tenant_id
        return session

    @asynccontextmanager
    async def transaction(
        self, tenant_id: UUID | None = None, *, write: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success and rolls back on error.

        On SQLite, pass ``write=True`` for a transaction that reads and then writes while other
        tasks may write (embedded mode runs the consumers in the serving process): it takes the
        write lock at once (``BEGIN IMMEDIATE``) and so queues behind other writers, instead of
        failing with "database is locked" when another connection committed after its first read.
        Other transactions take the lock at their first write, with reads before it outside the
        snapshot, so they need no flag.
        """
        async with self.session(tenant_id) as session, session.begin():
            if write and not self.is_postgres:
                await session.execute(text("BEGIN IMMEDIATE"))
            yield session

    async def ping(self, within: float = 2.0) -> None:
        """Raise when the database does not answer ``SELECT 1`` in time."""
        async with asyncio.timeout(within), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_connector(url: str, **connect_args: Any) -> Callable[[], Any]:
    # The file and options SQLAlchemy's own connect would use, opened as one-trip connections.
    parsed = make_url(url)
    args, options = parsed.get_dialect()().create_connect_args(parsed)
    return one_trip_connector(*args, **{**options, **connect_args})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
