"""SQL of the orchestrator: workflows, versions, runs and node runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select

from aiaas.kit.repository import Repository
from aiaas.orchestrator.models import NodeRun, Workflow, WorkflowRun, WorkflowVersion


class WorkflowRepository(Repository[Workflow]):
    model = Workflow

    async def by_name(self, name: str) -> Workflow | None:
        return await self.one_or_none(self.select().where(Workflow.name == name))

    async def all_by_name(self) -> Sequence[Workflow]:
        return await self.all(self.select().order_by(Workflow.name))

    async def active_sources(self) -> list[tuple[str, int, str, str]]:
        """(name, revision, source, digest) of every active tenant workflow."""
        stmt = (
            select(
                Workflow.name,
                WorkflowVersion.revision,
                WorkflowVersion.source,
                WorkflowVersion.digest,
            )
            .join(WorkflowVersion, WorkflowVersion.workflow_id == Workflow.id)
            .where(WorkflowVersion.revision == Workflow.active_revision)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(r[0], int(r[1]), str(r[2]), str(r[3])) for r in rows]


class WorkflowVersionRepository(Repository[WorkflowVersion]):
    model = WorkflowVersion

    async def of(self, workflow_id: UUID) -> Sequence[WorkflowVersion]:
        stmt = self.select().where(WorkflowVersion.workflow_id == workflow_id)
        return await self.all(stmt.order_by(WorkflowVersion.revision.desc()))

    async def revision(self, workflow_id: UUID, revision: int) -> WorkflowVersion | None:
        return await self.one_or_none(
            self.select().where(
                WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.revision == revision
            )
        )


class RunRepository(Repository[WorkflowRun]):
    model = WorkflowRun

    def filtered(
        self, *, conversation_id: str | None = None, status: str | None = None
    ) -> Select[Any]:
        stmt = self.select()
        if conversation_id:
            stmt = stmt.where(WorkflowRun.conversation_id == conversation_id)
        if status:
            stmt = stmt.where(WorkflowRun.status == status)
        return stmt

    async def waiting(self, conversation_id: str) -> WorkflowRun | None:
        stmt = self.filtered(conversation_id=conversation_id, status="waiting_for_agent")
        return await self.one_or_none(stmt.order_by(WorkflowRun.id.desc()).limit(1))


class NodeRunRepository(Repository[NodeRun]):
    model = NodeRun

    async def add_many(self, rows: Sequence[NodeRun]) -> None:
        """Insert the rows in one flush (one batched INSERT)."""
        self.session.add_all(rows)
        await self.session.flush()

    async def of(self, run_id: UUID) -> Sequence[NodeRun]:
        return await self.all(self.select().where(NodeRun.run_id == run_id).order_by(NodeRun.seq))
