"""``aiaas ingest PATH...``: upload and index files or folders into a tenant, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from aiaas.config import SettingsError, load_settings
from aiaas.ingestion.parsers import SUPPORTED_EXTENSIONS
from aiaas.kit.errors import AppError

console = Console()
err = Console(stderr=True)


def collect_files(paths: list[Path]) -> list[Path]:
    """The files named, and the supported files under the folders named (sorted, de-duplicated)."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED_EXTENSIONS:
                    found[child.resolve()] = None
        elif path.is_file():
            found[path.resolve()] = None
        else:
            raise typer.BadParameter(f"{path} does not exist")
    return list(found)


def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders to ingest", show_default=False)
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Tenant slug (needed to ingest files)")
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Collection of the documents")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable)")] = None,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex",
            help="Re-embed chunks made with another embedding model than the configured one "
            "(the tenant's, or every tenant's without --tenant)",
        ),
    ] = False,
) -> None:
    """Upload files (text, Markdown, HTML, PDF, DOCX, CSV/JSON FAQ) and index them now."""
    if not reindex and not paths:
        err.print("[red]name files or folders to ingest, or pass --reindex[/red]")
        raise typer.Exit(2)
    if paths and tenant is None:
        err.print("[red]--tenant is needed to ingest files[/red]")
        raise typer.Exit(2)
    files = collect_files(paths or [])
    if paths and not files:
        err.print("[red]no supported files found[/red]")
        raise typer.Exit(2)
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        failed = 0
        if files:
            assert tenant is not None
            failed = asyncio.run(_ingest(settings, files, tenant, collection, tag or []))
        if reindex:
            asyncio.run(_reindex(settings, tenant))
    except AppError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(1) from None
    if failed:
        raise typer.Exit(1)


async def _reindex(settings: object, slug: str | None) -> None:
    """Re-embed stale chunks now, tenant by tenant, with a progress bar per tenant."""
    from aiaas.config import Settings
    from aiaas.ingestion.pipeline import ReindexStep
    from aiaas.platform import build_platform

    assert isinstance(settings, Settings)
    platform = build_platform(settings)
    try:
        reindexer = platform.knowledge.reindexer(platform.db)
        if not reindexer.enabled:
            err.print(
                "[red]no embedding model is configured (AIAAS_INGESTION__EMBEDDINGS__*)[/red]"
            )
            raise typer.Exit(2)
        if slug is not None:
            tenant_ids = [(await platform.tenants.get_by_slug(slug)).id]
        else:
            tenant_ids = await reindexer.tenants()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        done = 0
        with Progress(*columns, console=console, transient=False) as progress:
            for tenant_id in tenant_ids:
                pending, total = await reindexer.pending(tenant_id)
                if not pending:
                    continue
                task = progress.add_task(f"Re-embedding {tenant_id}", total=total)
                progress.update(task, completed=total - pending)

                def advance(_tenant: object, step: ReindexStep, task: TaskID = task) -> None:
                    progress.update(task, completed=step.total - step.pending)

                done += await reindexer.reindex_tenant(tenant_id, advance)
        console.print(
            f"{done} chunks re-embedded with {platform.knowledge.embedding_label}"
            if done
            else f"every chunk already has a vector of {platform.knowledge.embedding_label}"
        )
    finally:
        await platform.stop()


async def _ingest(
    settings: object, files: list[Path], slug: str, collection: str | None, tags: list[str]
) -> int:
    from aiaas.config import Settings
    from aiaas.ingestion.service import Upload, ingest_now
    from aiaas.platform import build_platform

    assert isinstance(settings, Settings)
    platform = build_platform(settings)
    table = Table("file", "status", "chunks", "pages", "note")
    failed = 0
    try:
        tenant = await platform.tenants.get_by_slug(slug)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("Ingesting", total=len(files))
            for path in files:
                progress.update(task, description=f"Ingesting {path.name}")
                data = await asyncio.to_thread(path.read_bytes)
                (result,) = await ingest_now(
                    platform, tenant.id, [Upload(path.name, data)], collection=collection, tags=tags
                )
                document = result.document
                note = "duplicate" if result.duplicate else (document.error_reason or "")
                failed += document.status == "failed"
                table.add_row(
                    path.name,
                    document.status,
                    str(document.chunk_count),
                    str(document.pages or ""),
                    note,
                )
                progress.advance(task)
    finally:
        await platform.stop()
    console.print(table)
    return failed
