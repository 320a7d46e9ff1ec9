"""Tenant workflows: shipped defaults, uploads with located validation, versions, activation.

A tenant's workflow set is the shipped workflows with the tenant's active revisions laid over them
by name. Parsed sets are cached per tenant for a few seconds (and dropped on every change made
through this process), so a turn does not parse YAML.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiaas.events.outbox import record_event
from aiaas.kit.db import Database
from aiaas.kit.errors import NotFound
from aiaas.orchestrator import events as orchestrator_events
from aiaas.orchestrator.compiler import compile_workflow, load_workflow
from aiaas.orchestrator.errors import Issue, WorkflowNotFound, WorkflowValidationError
from aiaas.orchestrator.library import shipped_sources, shipped_workflows
from aiaas.orchestrator.models import Workflow, WorkflowVersion
from aiaas.orchestrator.repository import WorkflowRepository, WorkflowVersionRepository
from aiaas.orchestrator.spec.models import WorkflowSpec
from aiaas.tools.service import ToolRegistry

CACHE_SECONDS = 5.0
MAX_SOURCE_CHARS = 200_000


@dataclass(frozen=True)
class Resolved:
    """A runnable spec and where it came from."""

    spec: WorkflowSpec
    origin: str  # "shipped" | "tenant"
    revision: int


@dataclass(frozen=True)
class TenantWorkflows:
    specs: dict[str, Resolved]
    tools: frozenset[str]

    def all_specs(self) -> dict[str, WorkflowSpec]:
        return {name: item.spec for name, item in self.specs.items()}


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _shipped() -> dict[str, Resolved]:
    return {
        name: Resolved(spec, "shipped", spec.revision) for name, spec in shipped_workflows().items()
    }


class WorkflowStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[UUID, tuple[float, TenantWorkflows]] = {}
        self._parsed: dict[str, WorkflowSpec] = {}

    def invalidate(self, tenant_id: UUID) -> None:
        self._cache.pop(tenant_id, None)

    def _parse(self, source: str, digest: str, revision: int) -> WorkflowSpec:
        key = f"{digest}:{revision}"
        spec = self._parsed.get(key)
        if spec is None:
            spec = load_workflow(source).model_copy(update={"revision": revision})
            if len(self._parsed) > 2_000:
                self._parsed.clear()
            self._parsed[key] = spec
        return spec

    async def for_tenant(self, tenant_id: UUID) -> TenantWorkflows:
        """The tenant's runnable workflows (shipped defaults overridden by active revisions)."""
        cached = self._cache.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self.db.transaction(tenant_id) as session:
            rows = await WorkflowRepository(session).active_sources()
            tools = frozenset(await ToolRegistry(session).names())
        specs = _shipped()
        for name, revision, source, digest in rows:
            specs[name] = Resolved(self._parse(source, digest, revision), "tenant", revision)
        found = TenantWorkflows(specs, tools)
        self._cache[tenant_id] = (time.monotonic(), found)
        return found

    async def revision(self, tenant_id: UUID, name: str, revision: int, origin: str) -> Resolved:
        """A given revision (the one a waiting run was started with)."""
        if origin == "shipped":
            spec = shipped_workflows().get(name)
            if spec is None:
                raise WorkflowNotFound(f"no workflow {name!r}")
            return Resolved(spec, "shipped", spec.revision)
        async with self.db.transaction(tenant_id) as session:
            workflow = await WorkflowRepository(session).by_name(name)
            version = (
                await WorkflowVersionRepository(session).revision(workflow.id, revision)
                if workflow
                else None
            )
        if version is None:
            raise WorkflowNotFound(f"workflow {name!r} has no revision {revision}")
        return Resolved(self._parse(version.source, version.digest, revision), "tenant", revision)

    # ---- management -----------------------------------------------------------------------
    async def check(self, tenant_id: UUID, source: str) -> WorkflowSpec:
        """Parse and check a workflow against the tenant's tools and workflows; raises
        :class:`WorkflowValidationError` with YAML paths."""
        if not isinstance(source, str) or not source.strip():
            raise WorkflowValidationError([Issue("", "the workflow source is empty")])
        if len(source) > MAX_SOURCE_CHARS:
            raise WorkflowValidationError(
                [Issue("", f"the workflow source exceeds {MAX_SOURCE_CHARS} characters")]
            )
        self.invalidate(tenant_id)  # checks see the tools and workflows of this moment
        current = await self.for_tenant(tenant_id)
        names = set(current.specs)
        spec = load_workflow(source, tools=current.tools, workflows=names | {_name_of(source)})
        workflows = {**current.all_specs(), spec.name: spec}
        compile_workflow(spec, workflows=workflows, tools=current.tools)
        return spec

    async def upload(
        self, tenant_id: UUID, source: str, *, activate: bool = True, actor: str | None = None
    ) -> tuple[Workflow, WorkflowVersion]:
        spec = await self.check(tenant_id, source)
        digest = _digest(source)
        async with self.db.transaction(tenant_id) as session:
            workflows = WorkflowRepository(session)
            workflow = await workflows.by_name(spec.name)
            if workflow is None:
                workflow = await workflows.add(
                    Workflow(name=spec.name, description=spec.description, latest_revision=0)
                )
            revision = workflow.latest_revision + 1
            version = await WorkflowVersionRepository(session).add(
                WorkflowVersion(
                    workflow_id=workflow.id,
                    revision=revision,
                    source=source,
                    digest=digest,
                    created_by=actor,
                )
            )
            workflow.latest_revision = revision
            workflow.description = spec.description
            previous = workflow.active_revision
            if activate:
                workflow.active_revision = revision
            await session.flush()
            await record_event(
                session,
                "orchestrator.workflow.uploaded",
                orchestrator_events.WorkflowUploaded(
                    name=spec.name, revision=revision, digest=digest, activated=activate
                ),
                subject_type="workflow",
                subject_id=workflow.id,
            )
            if activate:
                await _activated(session, workflow, previous)
        self.invalidate(tenant_id)
        return workflow, version

    async def activate(self, tenant_id: UUID, name: str, revision: int | None = None) -> Workflow:
        """Make ``revision`` run (default: roll back to the revision before the active one)."""
        async with self.db.transaction(tenant_id) as session:
            workflow = await self._workflow(session, name)
            versions = WorkflowVersionRepository(session)
            if revision is None:
                active = workflow.active_revision or workflow.latest_revision + 1
                older = [v.revision for v in await versions.of(workflow.id) if v.revision < active]
                if not older:
                    raise NotFound(
                        f"workflow {name!r} has no revision before {active} to roll back to",
                        code="workflow_revision_not_found",
                    )
                revision = max(older)
            elif await versions.revision(workflow.id, revision) is None:
                raise NotFound(
                    f"workflow {name!r} has no revision {revision}",
                    code="workflow_revision_not_found",
                )
            previous = workflow.active_revision
            workflow.active_revision = revision
            await session.flush()
            await _activated(session, workflow, previous)
        self.invalidate(tenant_id)
        return workflow

    async def delete(self, tenant_id: UUID, name: str) -> None:
        async with self.db.transaction(tenant_id) as session:
            workflow = await self._workflow(session, name)
            await record_event(
                session,
                "orchestrator.workflow.deleted",
                orchestrator_events.WorkflowDeleted(name=name),
                subject_type="workflow",
                subject_id=workflow.id,
            )
            await WorkflowRepository(session).delete(workflow)
        self.invalidate(tenant_id)

    async def describe(self, tenant_id: UUID, name: str) -> dict[str, Any]:
        """The workflow that runs under ``name``, its source and its versions."""
        current = await self.for_tenant(tenant_id)
        async with self.db.transaction(tenant_id) as session:
            workflow = await WorkflowRepository(session).by_name(name)
            versions = (
                list(await WorkflowVersionRepository(session).of(workflow.id)) if workflow else []
            )
        resolved = current.specs.get(name)
        if resolved is None and workflow is None:
            raise WorkflowNotFound(f"no workflow {name!r}")
        shipped = shipped_sources()
        source = next(
            (v.source for v in versions if workflow and v.revision == workflow.active_revision),
            None,
        )
        if source is None:
            source = next(
                (text for stem, text in shipped.items() if stem == name),
                None,
            )
        return {
            "name": name,
            "origin": resolved.origin if resolved else "tenant",
            "active_revision": workflow.active_revision if workflow else None,
            "revision": resolved.revision if resolved else None,
            "description": resolved.spec.description if resolved else workflow.description,  # type: ignore[union-attr]
            "shipped": name in shipped_workflows(),
            "source": source,
            "versions": versions,
        }

    async def listing(self, tenant_id: UUID) -> list[dict[str, Any]]:
        current = await self.for_tenant(tenant_id)
        async with self.db.transaction(tenant_id) as session:
            rows = {w.name: w for w in await WorkflowRepository(session).all_by_name()}
        names = sorted(set(current.specs) | set(rows))
        items = []
        for name in names:
            resolved, row = current.specs.get(name), rows.get(name)
            items.append(
                {
                    "id": str(row.id) if row else f"shipped:{name}",
                    "name": name,
                    "origin": resolved.origin if resolved else "tenant",
                    "revision": resolved.revision if resolved else None,
                    "active_revision": row.active_revision if row else None,
                    "latest_revision": row.latest_revision if row else None,
                    "description": resolved.spec.description if resolved else row.description,  # type: ignore[union-attr]
                    "shipped": name in shipped_workflows(),
                }
            )
        return items

    async def versions(self, tenant_id: UUID, name: str) -> tuple[Workflow, list[WorkflowVersion]]:
        async with self.db.transaction(tenant_id) as session:
            workflow = await self._workflow(session, name)
            return workflow, list(await WorkflowVersionRepository(session).of(workflow.id))

    @staticmethod
    async def _workflow(session: Any, name: str) -> Workflow:
        workflow = await WorkflowRepository(session).by_name(name)
        if workflow is None:
            raise WorkflowNotFound(f"the tenant has no uploaded workflow {name!r}")
        return workflow


async def _activated(session: Any, workflow: Workflow, previous: int | None) -> None:
    await record_event(
        session,
        "orchestrator.workflow.activated",
        orchestrator_events.WorkflowActivated(
            name=workflow.name, revision=workflow.active_revision or 0, previous_revision=previous
        ),
        subject_type="workflow",
        subject_id=workflow.id,
    )


def _name_of(source: str) -> str:
    """The ``name:`` of a YAML source, best effort (so it may call itself by name in checks)."""
    for line in source.splitlines():
        stripped = line.strip()
        if line.startswith("name:"):
            return stripped.split(":", 1)[1].strip().strip("'\"")
    return ""
