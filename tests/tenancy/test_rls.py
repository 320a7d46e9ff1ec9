"""PostgreSQL row-level security, checked in the catalog and with raw SQL as the app role."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import Stack
from tests.factories import make_tenant


@pytest.fixture
async def pg(env: Stack) -> Stack:
    if not env.is_postgres:
        pytest.skip("row-level security is a PostgreSQL feature")
    return env


async def test_every_tenant_table_forces_rls(pg: Stack) -> None:
    async with pg.owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'tenant_id' AND NOT a.attisdropped)""")
            )
        ).all()
    assert len(rows) >= 3
    bad = [
        r.relname
        for r in rows
        if not (r.relrowsecurity and r.relforcerowsecurity and r.policies >= 1)
    ]
    assert not bad, f"tables with tenant_id but no forced RLS policy: {bad}"


async def test_app_role_is_powerless(pg: Stack) -> None:
    role = pg.settings.database_app_role
    async with pg.owner_engine.connect() as conn:
        info = (
            await conn.execute(
                text(
                    "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :r"
                ),
                {"r": role},
            )
        ).one()
        owned = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = :r"
                ),
                {"r": role},
            )
        ).scalar_one()
    assert not any(info), info
    assert owned == 0
    async with pg.platform.db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == role


async def test_raw_sql_without_tenant_sees_nothing_and_with_check_blocks_writes(pg: Stack) -> None:
    a = await make_tenant(pg)
    b = await make_tenant(pg)
    engine = create_async_engine(pg.settings.app_database_url)
    try:
        async with engine.connect() as conn:
            for table in ("users", "api_keys", "refresh_tokens"):
                assert (
                    await conn.execute(text(f"SELECT count(*) FROM {table}"))
                ).scalar_one() == 0, table
        async with engine.connect() as conn, conn.begin():
            await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": a.id})
            assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one() == 1
            assert (
                await conn.execute(
                    text("SELECT count(*) FROM users WHERE tenant_id = :b"), {"b": b.id}
                )
            ).scalar_one() == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            async with engine.connect() as conn, conn.begin():
                await conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": a.id}
                )
                await conn.execute(
                    text(
                        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, is_active, created_at,"
                        " updated_at) VALUES (gen_random_uuid(), :b, 'x@y.z', '', 'h', 'owner', true, now(), now())"
                    ),
                    {"b": b.id},
                )
        with pytest.raises(DBAPIError, match="row-level security"):
            async with engine.connect() as conn, conn.begin():
                await conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": a.id}
                )
                await conn.execute(text("UPDATE users SET tenant_id = :b"), {"b": b.id})
    finally:
        await engine.dispose()


async def test_app_role_cannot_touch_migration_state(pg: Stack) -> None:
    engine = create_async_engine(pg.settings.app_database_url)
    try:
        with pytest.raises(DBAPIError, match="permission denied"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM alembic_version"))
    finally:
        await engine.dispose()
