"""Routes of the orchestrator: workflows (upload, validate, versions, activate) and runs (start,
read, stream, resume, cancel), all scoped to the caller's tenant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from aiaas.kit.errors import ValidationFailed
from aiaas.kit.ids import new_id
from aiaas.kit.pagination import PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.orchestrator.context import WorkflowEvent
from aiaas.orchestrator.engine import NoHandoffPending
from aiaas.orchestrator.schemas import (
    ActivateIn,
    NodeRunOut,
    ResumeIn,
    RunDetail,
    RunList,
    RunOut,
    RunStartIn,
    ValidateIn,
    ValidateOut,
    VersionList,
    VersionOut,
    WorkflowDetail,
    WorkflowList,
    WorkflowSourceIn,
    WorkflowSummary,
)
from aiaas.orchestrator.service import OrchestratorService, workflow_tools
from aiaas.orchestrator.spec.models import workflow_json_schema
from aiaas.orchestrator.spec.nodes import SubworkflowNode
from aiaas.tenancy.dependencies import PlatformDep, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, prefix="/orchestrator", tags=["orchestrator"])
Reader = Annotated[Principal, require("workflows:read")]
Writer = Annotated[Principal, require("workflows:write")]
WorkflowName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SSE = "text/event-stream"
_background: set[asyncio.Task[Any]] = set()


def _tenant(principal: Principal) -> UUID:
    assert principal.tenant_id is not None  # require() guarantees a tenant principal
    return principal.tenant_id


def _actor(principal: Principal) -> str:
    return f"{principal.kind}:{principal.id}"


# ---- workflows -----------------------------------------------------------------------------
@router.get("/schema")
async def dsl_schema(_: Reader) -> dict[str, Any]:
    """The JSON Schema of workflow documents (for editors)."""
    return workflow_json_schema()


@router.get("/workflows", response_model=WorkflowList)
async def list_workflows(principal: Reader, platform: PlatformDep) -> WorkflowList:
    items = await platform.orchestrator.store.listing(_tenant(principal))
    return WorkflowList(items=[WorkflowSummary(**item) for item in items])


@router.post("/workflows/validate", response_model=ValidateOut)
async def validate_workflow(
    body: ValidateIn, principal: Reader, platform: PlatformDep
) -> ValidateOut:
    """Check a workflow without saving it; 422 with every issue and its YAML path."""
    spec = await platform.orchestrator.store.check(_tenant(principal), body.source)
    workflows = (await platform.orchestrator.store.for_tenant(_tenant(principal))).all_specs()
    workflows[spec.name] = spec
    return ValidateOut(
        valid=True, name=spec.name, revision=spec.revision, nodes=len(spec.nodes),
        tools=sorted(workflow_tools(spec, workflows)),
        subworkflows=sorted({n.workflow for n in spec.nodes if isinstance(n, SubworkflowNode)}),
    )  # fmt: skip


@router.post("/workflows", response_model=VersionOut, status_code=status.HTTP_201_CREATED)
async def upload_workflow(
    body: WorkflowSourceIn, principal: Writer, platform: PlatformDep
) -> VersionOut:
    """Upload a new revision (a shipped workflow of the same name is overridden)."""
    workflow, version = await platform.orchestrator.store.upload(
        _tenant(principal), body.source, activate=body.activate, actor=_actor(principal)
    )
    out = VersionOut.model_validate(version)
    out.active = workflow.active_revision == version.revision
    return out


@router.get("/workflows/{workflow_name}", response_model=WorkflowDetail)
async def get_workflow(
    workflow_name: WorkflowName, principal: Reader, platform: PlatformDep
) -> WorkflowDetail:
    found = await platform.orchestrator.store.describe(_tenant(principal), workflow_name)
    active = found["active_revision"]
    versions = [_version(v, active) for v in found.pop("versions")]
    return WorkflowDetail(**found, versions=versions)


@router.get("/workflows/{workflow_name}/versions", response_model=VersionList)
async def list_versions(
    workflow_name: WorkflowName, principal: Reader, platform: PlatformDep
) -> VersionList:
    workflow, versions = await platform.orchestrator.store.versions(
        _tenant(principal), workflow_name
    )
    return VersionList(
        name=workflow.name,
        active_revision=workflow.active_revision,
        items=[_version(v, workflow.active_revision) for v in versions],
    )


@router.post("/workflows/{workflow_name}/activate", response_model=VersionList)
async def activate_workflow(
    workflow_name: WorkflowName,
    principal: Writer,
    platform: PlatformDep,
    body: Annotated[ActivateIn | None, Body()] = None,
) -> VersionList:
    """Run the given revision; without one, roll back to the revision before the active one."""
    tenant = _tenant(principal)
    await platform.orchestrator.store.activate(
        tenant, workflow_name, body.revision if body else None
    )
    return await list_versions(workflow_name, principal, platform)


@router.delete("/workflows/{workflow_name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workflow(
    workflow_name: WorkflowName, principal: Writer, platform: PlatformDep
) -> Response:
    """Remove the tenant's workflow and its versions (a shipped one of that name applies again)."""
    await platform.orchestrator.store.delete(_tenant(principal), workflow_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _version(version: Any, active: int | None) -> VersionOut:
    out = VersionOut.model_validate(version)
    out.active = version.revision == active
    return out


# ---- runs ----------------------------------------------------------------------------------
@router.post("/runs", response_model=None)
async def start_run(
    body: RunStartIn, principal: Writer, platform: PlatformDep
) -> dict[str, Any] | StreamingResponse:
    """Run one turn of a conversation (a new conversation unless ``conversation_id`` is given).
    With ``stream`` the answer is server-sent events ending with ``run.finished``."""
    events = platform.orchestrator.stream_turn(
        _tenant(principal), body.conversation_id or f"api-{new_id()}", body.message,
        workflow=body.workflow, model_tier=body.model_tier, context=body.inputs,
    )  # fmt: skip
    return await _respond(platform.orchestrator, events, stream=body.stream)


@router.get("/runs", response_model=RunList)
async def list_runs(
    principal: Reader,
    platform: PlatformDep,
    page: Annotated[PageParams, Depends(page_params)],
    conversation_id: Annotated[str | None, Query(max_length=128)] = None,
    run_status: Annotated[str | None, Query(alias="status", max_length=24)] = None,
) -> RunList:
    rows, cursor = await platform.orchestrator.list_runs(
        _tenant(principal), page, conversation_id=conversation_id, status=run_status
    )
    return RunList(items=[RunOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/runs/{run_id}", response_model=RunDetail)
async def get_run(run_id: UUID, principal: Reader, platform: PlatformDep) -> RunDetail:
    run, nodes = await platform.orchestrator.get_run(_tenant(principal), run_id)
    detail = RunDetail.model_validate(run)
    detail.nodes = [NodeRunOut.model_validate(n) for n in nodes]
    return detail


@router.get("/runs/{run_id}/events", response_class=StreamingResponse)
async def stream_run_events(
    run_id: UUID, principal: Reader, platform: PlatformDep
) -> StreamingResponse:
    """The run's events as server-sent events: live while it runs in this process, else the
    recorded ones (token deltas are not recorded)."""
    run, _ = await platform.orchestrator.get_run(_tenant(principal), run_id)
    feed = platform.orchestrator.feed(run_id)
    if feed is not None:
        return _sse(feed.subscribe())

    async def recorded() -> AsyncIterator[dict[str, Any]]:
        for item in run.events or []:
            yield item

    return _sse(recorded())


@router.post("/runs/{run_id}/resume", response_model=None)
async def resume_run(
    run_id: UUID,
    principal: Annotated[Principal, require("inbox:write")],
    platform: PlatformDep,
    body: Annotated[ResumeIn | None, Body()] = None,
    stream: Annotated[bool, Query()] = False,
) -> dict[str, Any] | StreamingResponse:
    """Resolve the handoff a run waits on: the agent's answer, or a hand-back to the workflow."""
    tenant = _tenant(principal)
    run, _ = await platform.orchestrator.get_run(tenant, run_id)
    if body is None:
        raise ValidationFailed("send {action: answer|hand_back, message}", code="resume_invalid")
    if run.status != "waiting_for_agent":
        raise NoHandoffPending(f"run {run_id} is {run.status}, not waiting for an agent")
    events = platform.orchestrator.resume(
        tenant, run.conversation_id, body.model_dump(exclude_none=True)
    )
    return await _respond(platform.orchestrator, events, stream=stream)


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
async def cancel_run(run_id: UUID, principal: Writer, platform: PlatformDep) -> RunOut:
    """Cancel a running run, or abandon one waiting for an agent (its workflow state is reset)."""
    return RunOut.model_validate(await platform.orchestrator.cancel(_tenant(principal), run_id))


async def _respond(
    service: OrchestratorService, events: AsyncIterator[WorkflowEvent], *, stream: bool
) -> dict[str, Any] | StreamingResponse:
    """Run in a task of its own (a client going away does not cut the run short)."""
    first = await events.__anext__()  # raises before anything is sent (409, 404, 429...)
    feed = service.feed(UUID(str(first.data["run_id"])))

    async def drain() -> dict[str, Any]:
        last: dict[str, Any] = {}
        async for event in events:
            if event.type == "run.finished":
                last = dict(event.data)
        return last

    task = asyncio.ensure_future(drain())
    _background.add(task)
    task.add_done_callback(_background.discard)
    if stream and feed is not None:
        return _sse(feed.subscribe())
    return await asyncio.shield(task)


def _sse(items: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        async for item in items:
            yield f"event: {item.get('type', 'message')}\ndata: {json.dumps(item, default=str)}\n\n"

    return StreamingResponse(body(), media_type=SSE, headers={"Cache-Control": "no-cache"})
