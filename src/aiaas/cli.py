"""The `aiaas` command line: serve, worker, migrate, tenants, keys, demo."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from aiaas.config import Settings, SettingsError, load_settings
from aiaas.ingestion.cli import ingest as ingest_command

app = typer.Typer(help="aiaas: multi-tenant AI customer-support platform", no_args_is_help=True)
tenants_app = typer.Typer(help="Manage tenants", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys", no_args_is_help=True)
admins_app = typer.Typer(help="Manage platform admins", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(admins_app, name="admins")
app.command("ingest")(ingest_command)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _run(make: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    from aiaas.kit.errors import AppError

    settings = _settings()
    try:
        return asyncio.run(make(settings))
    except AppError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default AIAAS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AIAAS_PORT)")] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
) -> None:
    """Serve the API and dashboard. In embedded mode the relay and consumers run in this process."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "aiaas.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=settings.gateway.trust_forwarded_for,
        # Compression nearly doubles the memory of each idle WebSocket; the hub sends its own
        # heartbeats, and frames over the chat limit are refused by uvicorn before they are read.
        ws_per_message_deflate=False,
        ws_max_size=settings.chat.ws_max_message_bytes,
        ws_ping_interval=None,
    )


@app.command()
def worker() -> None:
    """Run the outbox relay and every event consumer until interrupted."""

    async def main(settings: Settings) -> None:
        from aiaas.backends.telemetry import configure_logging
        from aiaas.kit.heap import settle_heap
        from aiaas.platform import build_platform

        configure_logging(settings.telemetry)
        if settings.telemetry.worker_metrics_port:
            from prometheus_client import start_http_server

            start_http_server(settings.telemetry.worker_metrics_port, addr=settings.host)
        platform = build_platform(settings)
        await platform.start(events=True)
        settle_heap(settings.gc_young_threshold)  # as in the API process
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(
            f"worker running: bus={platform.bus.kind}, consumers={[c.name for c in platform.consumers]}"
        )
        try:
            await stop.wait()
        finally:
            await platform.stop()

    _run(main)


@app.command()
def migrate(
    direction: Annotated[str, typer.Argument(help="up or down")] = "up",
    revision: Annotated[
        str | None, typer.Option(help="Target revision (default: heads / base)")
    ] = None,
) -> None:
    """Apply (up) or roll back (down) the database migrations, as the schema owner."""
    from aiaas.migrations import runner

    settings = _settings()
    if direction == "up":
        runner.upgrade(settings, revision or "heads")
    elif direction == "down":
        runner.downgrade(settings, revision or "base")
    else:
        err.print("direction must be 'up' or 'down'")
        raise typer.Exit(2)
    console.print(f"database at: {', '.join(sorted(runner.current(settings))) or 'base'}")


@tenants_app.command("create")
def tenants_create(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name")],
    owner_email: Annotated[str, typer.Option(help="Owner's email")],
    owner_password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ],
    plan: Annotated[str | None, typer.Option(help="Plan name")] = None,
) -> None:
    """Create a tenant and its owner."""
    from aiaas.tenancy.schemas import TenantCreate

    try:
        body = TenantCreate.model_validate(
            {
                "slug": slug,
                "name": name,
                "plan": plan,
                "owner_email": owner_email,
                "owner_password": owner_password,
            }
        )
    except Exception as exc:  # pydantic's message names the bad field
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

    async def main(settings: Settings) -> None:
        from aiaas.tenancy.service import NewTenant

        async with _platform(settings) as platform:
            tenant = await platform.tenants.create(
                NewTenant(
                    slug=body.slug,
                    name=body.name,
                    plan=body.plan,
                    owner_email=str(body.owner_email),
                    owner_password=body.owner_password.get_secret_value(),
                )
            )
            console.print(f"created tenant {tenant.slug} ({tenant.id}) on plan {tenant.plan}")

    _run(main)


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""

    async def main(settings: Settings) -> None:
        from aiaas.kit.pagination import PageParams

        async with _platform(settings) as platform:
            table = Table("slug", "name", "plan", "status", "id", "created")
            cursor = None
            while True:
                rows, cursor = await platform.tenants.list_page(
                    PageParams(limit=200, cursor=cursor)
                )
                for t in rows:
                    table.add_row(
                        t.slug, t.name, t.plan, t.status, str(t.id), t.created_at.isoformat()
                    )
                if not cursor:
                    break
            console.print(table)

    _run(main)


@tenants_app.command("disable")
def tenants_disable(slug: str) -> None:
    """Disable a tenant: every request of its users and keys is refused."""
    _set_status(slug, "disabled")


@tenants_app.command("enable")
def tenants_enable(slug: str) -> None:
    """Enable a disabled tenant again."""
    _set_status(slug, "active")


def _set_status(slug: str, status: str) -> None:
    async def main(settings: Settings) -> None:
        async with _platform(settings) as platform:
            tenant = await platform.tenants.get_by_slug(slug)
            await platform.tenants.update(tenant.id, status=status)
            console.print(f"tenant {slug} is now {status}")

    _run(main)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug")],
    name: Annotated[str, typer.Option(help="Key name")],
    scope: Annotated[list[str], typer.Option(help="Scope (repeat); see docs/api.md for the list")],
    expires_at: Annotated[datetime | None, typer.Option(help="Expiry, ISO 8601 UTC")] = None,
) -> None:
    """Create an API key for a tenant and print it once."""
    from aiaas.tenancy.permissions import PERMISSIONS

    unknown = sorted(set(scope) - set(PERMISSIONS))
    if unknown:
        err.print(
            f"[red]unknown scopes: {', '.join(unknown)}[/red]; known: {', '.join(PERMISSIONS)}"
        )
        raise typer.Exit(2)

    async def main(settings: Settings) -> None:
        from datetime import UTC

        from aiaas.tenancy.service import ApiKeyService

        async with _platform(settings) as platform:
            t = await platform.tenants.get_by_slug(tenant)
            expiry = (
                expires_at.replace(tzinfo=UTC)
                if expires_at and expires_at.tzinfo is None
                else expires_at
            )
            async with platform.db.transaction(t.id) as session:
                key, raw = await ApiKeyService(session, settings, platform.credentials).create(
                    None, t.slug, name, scope, expiry
                )
            console.print(
                f"key id {key.id}\n[bold]{raw}[/bold]\nStore it now: it is not shown again."
            )

    _run(main)


@keys_app.command("revoke")
def keys_revoke(
    tenant: Annotated[str, typer.Option(help="Tenant slug")],
    key_id: Annotated[str, typer.Argument(help="Key id, or its prefix")],
) -> None:
    """Revoke an API key."""

    async def main(settings: Settings) -> None:
        from aiaas.kit.ids import parse_id
        from aiaas.tenancy.repository import ApiKeyRepository
        from aiaas.tenancy.service import ApiKeyService

        async with _platform(settings) as platform:
            t = await platform.tenants.get_by_slug(tenant)
            async with platform.db.transaction(t.id) as session:
                parsed = parse_id(key_id)
                if parsed is None:
                    found = await ApiKeyRepository(session).by_prefix(key_id)
                    parsed = found.id if found else None
                if parsed is None:
                    err.print(f"[red]no key {key_id} in tenant {tenant}[/red]")
                    raise typer.Exit(1)
                key = await ApiKeyService(session, settings, platform.credentials).revoke(parsed)
            console.print(f"revoked key {key.prefix} ({key.name})")

    _run(main)


@admins_app.command("create")
def admins_create(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create a platform admin (manages tenants)."""

    async def main(settings: Settings) -> None:
        from aiaas.tenancy.bootstrap import ensure_platform_admin

        async with _platform(settings) as platform:
            created = await ensure_platform_admin(platform, email, password)
            console.print(f"platform admin {email} {'created' if created else 'already exists'}")

    _run(main)


@app.command()
def demo() -> None:
    """Create the demo tenant `acme` with an owner and an API key, and print how to sign in."""

    async def main(settings: Settings) -> None:
        from aiaas.tenancy.bootstrap import seed_demo

        async with _platform(settings) as platform:
            report = await seed_demo(platform)
        typer.echo(report)

    _run(main)


class _platform:
    """Build the platform for a CLI command (no relay: the server or worker publishes the events)."""

    def __init__(self, settings: Settings) -> None:
        from aiaas.platform import build_platform

        self.platform = build_platform(settings)

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        return self.platform

    async def __aexit__(self, *exc: object) -> None:
        await self.platform.stop()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
