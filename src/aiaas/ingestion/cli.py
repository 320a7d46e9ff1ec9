"""``aiaas ingest PATH...``: upload and index files or folders into a tenant, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug")],
    collection: Annotated[str | None, typer.Option(help="Collection of the documents")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable)")] = None,
) -> None:
    """Upload files (text, Markdown, HTML, PDF, DOCX, CSV/JSON FAQ) and index them now."""
    files = collect_files(paths)
    if not files:
        err.print("[red]no supported files found[/red]")
        raise typer.Exit(2)
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        failed = asyncio.run(_ingest(settings, files, tenant, collection, tag or []))
    except AppError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(1) from None
    if failed:
        raise typer.Exit(1)


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
