"""What chat needs from the orchestrator and the router, as small protocols.

The platform wires ``aiaas.orchestrator.service.OrchestratorService`` and
``aiaas.router.service.RouterService``; anything with these methods serves (tests use doubles).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from sqlalchemy import FromClause
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.kit.db import Database
from aiaas.orchestrator.context import WorkflowEvent


class TurnEngine(Protocol):
    """Runs a customer turn through the tenant's workflow and resumes handoffs."""

    def stream_turn(
        self,
        tenant_id: str,
        conversation_id: str,
        message: str,
        *,
        workflow: str | None = None,
        model_tier: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[WorkflowEvent]:
        """The turn's events; the last is ``run.finished`` with the turn result as data."""
        ...

    def resume(self, tenant_id: str, conversation_id: str, resolution: Mapping[str, Any]) -> Any:
        """Continue a conversation waiting for an agent (answer or hand back)."""
        ...

    async def pending_handoff(self, tenant_id: str, conversation_id: str) -> Any:
        """The waiting handoff of a conversation, or ``None``."""
        ...


class Decision(Protocol):
    """The router's choice for one message."""

    id: Any
    workflow: str | None
    tier: str | None
    model: str | None
    confidence: float
    early_exit: Any


class PreparedDecision(Protocol):
    """A decision made but not recorded yet (see :meth:`ModelRouter.prepare`)."""

    @property
    def id(self) -> Any: ...

    @property
    def decision(self) -> Decision: ...

    def rows(self) -> tuple[list[tuple[FromClause, dict[str, Any]]], list[dict[str, Any]]]:
        """The decision's rows and outbox rows, for a bulk insert in its tenant's transaction."""
        ...


class ModelRouter(Protocol):
    """Chooses workflow and model tier for a message."""

    async def decide(
        self,
        session: AsyncSession,
        tenant: Any,
        message: str,
        *,
        conversation_id: str | None,
        turn: int,
        customer_tier: str | None,
        retrieval_confidence: float | None,
    ) -> Decision: ...

    async def prepare(
        self,
        db: Database,
        tenant: Any,
        message: str,
        *,
        conversation_id: str | None = None,
        turn: int = 1,
        customer_tier: str | None = None,
        retrieval_confidence: float | None = None,
    ) -> PreparedDecision:
        """Decide without recording; the database is read only on a cold cache."""
        ...
