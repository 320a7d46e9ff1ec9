"""DDL helpers shared by migrations: the app role and row-level security on tenant tables."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

TENANT_PREDICATE = "tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid"


def is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def app_role() -> str:
    role: str = context.config.attributes["app_role"]
    return role


def enable_tenant_rls(table: str) -> None:
    """ENABLE + FORCE row-level security with one policy for reads (USING) and writes (WITH CHECK)."""
    if not is_postgres():
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(
        f'CREATE POLICY tenant_isolation ON "{table}" USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})'
    )


def disable_tenant_rls(table: str) -> None:
    if not is_postgres():
        return
    op.execute(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')


def create_app_role() -> None:
    """The login role the app uses: owns nothing, not superuser, no BYPASSRLS; granted DML only."""
    if not is_postgres():
        return
    role = app_role()
    password = context.config.attributes.get("app_password")
    bind = op.get_bind()
    exists = bind.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    secret = "PASSWORD " + _literal(password) if password else "PASSWORD NULL"
    if exists is None:
        op.execute(
            f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT {secret}'
        )
    else:
        op.execute(
            f'ALTER ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS {secret}'
        )
    database = bind.exec_driver_sql("SELECT current_database()").scalar_one()
    op.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
    op.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    op.execute(
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"'
    )
    op.execute(
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "{role}"'
    )
    # Alembic's own bookkeeping is the owner's business.
    op.execute(f'REVOKE ALL ON TABLE alembic_version FROM "{role}"')


def drop_app_role() -> None:
    if not is_postgres():
        return
    role = app_role()
    bind = op.get_bind()
    if (
        bind.execute(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        is None
    ):
        return
    database = bind.exec_driver_sql("SELECT current_database()").scalar_one()
    op.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM "{role}"')
    op.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM "{role}"')
    op.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
    op.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"')
    op.execute(f'REVOKE ALL ON SCHEMA public FROM "{role}"')
    op.execute(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"')
    # The role may still be used by another database of the cluster; then it stays.
    op.execute(
        f'DO $$ BEGIN DROP ROLE "{role}"; '
        f"EXCEPTION WHEN dependent_objects_still_exist THEN RAISE NOTICE 'role {role} kept'; END $$"
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
