"""Routes of the tools domain: register manifests, read versions, make a test call."""

from __future__ import annotations

import time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Path, status

from aiaas.kit.errors import AppError
from aiaas.kit.routing import GuardedRoute
from aiaas.tenancy.dependencies import PlatformDep, TenantSession, require
from aiaas.tenancy.permissions import Principal
from aiaas.tools.builtins import BUILTIN_TOOLS
from aiaas.tools.manifest import ToolManifest
from aiaas.tools.models import ToolManifestRecord
from aiaas.tools.schemas import (
    ToolCallIn,
    ToolCallOut,
    ToolList,
    ToolOut,
    ToolVersionOut,
    ToolVersions,
)
from aiaas.tools.service import ToolRegistry, ToolRunner

router = APIRouter(route_class=GuardedRoute, prefix="/tools", tags=["tools"])
Reader = Annotated[Principal, require("tools:read")]
Writer = Annotated[Principal, require("tools:write")]
ToolName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def _out(record: ToolManifestRecord) -> ToolOut:
    return ToolOut(
        id=str(record.id), name=record.name, version=record.version,
        description=record.description, kind=str(record.manifest.get("kind", "http")),
        manifest=record.manifest, created_at=record.created_at,
    )  # fmt: skip


def _builtin(manifest: ToolManifest) -> ToolOut:
    return ToolOut(
        id=f"builtin:{manifest.name}", name=manifest.name, version=manifest.version,
        description=manifest.description, kind="builtin", builtin=True,
        manifest=manifest.model_dump(mode="json"),
    )  # fmt: skip


@router.get("", response_model=ToolList)
async def list_tools(_: Reader, session: TenantSession) -> ToolList:
    """The current version of every tool of the tenant, and the built-ins."""
    rows = await ToolRegistry(session).current()
    return ToolList(items=[*(_builtin(m) for m in BUILTIN_TOOLS.values()), *map(_out, rows)])


@router.post("", response_model=ToolOut, status_code=status.HTTP_201_CREATED)
async def register_tool(
    manifest: Annotated[dict[str, Any], Body()], principal: Writer, session: TenantSession
) -> ToolOut:
    """Register a manifest version; 422 lists each problem with its field path, 409 when that
    version exists. The highest semver version is the current one."""
    record = await ToolRegistry(session).register(
        manifest, actor=f"{principal.kind}:{principal.id}"
    )
    return _out(record)


@router.get("/{tool_name}", response_model=ToolOut)
async def get_tool(tool_name: ToolName, _: Reader, session: TenantSession) -> ToolOut:
    if tool_name in BUILTIN_TOOLS:
        return _builtin(BUILTIN_TOOLS[tool_name])
    registry = ToolRegistry(session)
    current = await registry.repo.current(tool_name)
    if current is None:
        await registry.versions(tool_name)  # raises ToolNotFound
        raise AssertionError("unreachable")
    return _out(current)


@router.get("/{tool_name}/versions", response_model=ToolVersions)
async def tool_versions(tool_name: ToolName, _: Reader, session: TenantSession) -> ToolVersions:
    rows = await ToolRegistry(session).versions(tool_name)
    return ToolVersions(
        name=tool_name,
        items=[
            ToolVersionOut(
                id=r.id,
                version=r.version,
                current=r.is_current,
                created_at=r.created_at,
                created_by=r.created_by,
            )
            for r in rows
        ],
    )


@router.post("/{tool_name}/test", response_model=ToolCallOut)
async def call_tool_now(
    tool_name: ToolName,
    principal: Writer,
    platform: PlatformDep,
    body: Annotated[ToolCallIn | None, Body()] = None,
) -> ToolCallOut:
    """Call the tool now with ``args``, as the caller's tenant, through the same adapter
    (timeouts, retries, breaker) workflows use; failures are reported, not raised."""
    tenant = principal.tenant_id
    assert tenant is not None
    body = body or ToolCallIn()
    runner = ToolRunner(
        platform.db, platform.orchestrator.tools, tenant, frozenset({tool_name}),
        search=_search(platform, tenant),
    )  # fmt: skip
    manifest = (
        await runner.manifest(tool_name)
        if body.version is None
        else await _pinned(runner, platform, tenant, tool_name, body.version)
    )
    started = time.perf_counter()
    try:
        result = await runner(tool_name, body.args)
        error = None
    except AppError as exc:
        if exc.status == 404 and exc.code == "tool_not_found":
            raise
        result, error = None, {"code": exc.code, "message": exc.detail, "status": exc.status}
    return ToolCallOut(
        tool=tool_name, version=manifest.version, ok=error is None, result=result, error=error,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )  # fmt: skip


async def _pinned(
    runner: ToolRunner, platform: Any, tenant: UUID, name: str, version: str
) -> ToolManifest:
    async with platform.db.transaction(tenant) as session:
        manifest = await ToolRegistry(session).get(name, version)
    runner._manifests[name] = manifest
    return manifest


def _search(platform: Any, tenant: UUID) -> Any:
    service = platform.orchestrator

    async def search(query: str, k: int) -> Any:
        if service.search is None:
            raise LookupError("knowledge search is not configured")
        return await service.search(tenant, query, k)

    return search
