"""All SQL of the router. Tenant scoping comes from the session (kit.db)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, delete, func, select, update
from sqlalchemy.orm import undefer

from aiaas.kit.repository import Repository
from aiaas.router.models import (
    IntentExample,
    IntentModelVersion,
    RouterDecision,
    RouterPolicy,
    RouterTenantSettings,
)
from aiaas.router.policy import PolicyStatus

LIVE = (PolicyStatus.ACTIVE.value, PolicyStatus.CANARY.value)


class SettingsRepository(Repository[RouterTenantSettings]):
    model = RouterTenantSettings

    async def current(self) -> RouterTenantSettings | None:
        return await self.one_or_none(self.select())


class PolicyRepository(Repository[RouterPolicy]):
    model = RouterPolicy

    async def live(self) -> Sequence[RouterPolicy]:
        """The active policy and the canary, if any."""
        return await self.all(
            self.select().where(RouterPolicy.status.in_(LIVE)).order_by(RouterPolicy.version)
        )

    async def locked(self, policy_id: UUID) -> RouterPolicy | None:
        """The policy, locked for this transaction (PostgreSQL) so replicas update it in turn."""
        stmt = self.select().where(RouterPolicy.id == policy_id).with_for_update()
        return await self.one_or_none(stmt.execution_options(populate_existing=True))

    async def locked_live(self) -> Sequence[RouterPolicy]:
        stmt = (
            self.select()
            .where(RouterPolicy.status.in_(LIVE))
            .order_by(RouterPolicy.version)
            .with_for_update()
        )
        return await self.all(stmt.execution_options(populate_existing=True))

    async def next_version(self) -> int:
        result = await self.session.execute(select(func.max(RouterPolicy.version)))
        return int(result.scalar_one_or_none() or 0) + 1

    async def listed(self) -> Sequence[RouterPolicy]:
        return await self.all(self.select().order_by(RouterPolicy.version.desc()).limit(200))


class DecisionRepository(Repository[RouterDecision]):
    model = RouterDecision

    async def locked(self, decision_id: UUID) -> RouterDecision | None:
        stmt = self.select().where(RouterDecision.id == decision_id).with_for_update()
        return await self.one_or_none(stmt.execution_options(populate_existing=True))

    async def latest_in_conversation(
        self, conversation_id: str, *, since: datetime | None = None, until: datetime
    ) -> RouterDecision | None:
        """The conversation's last decision made in ``[since, until]``."""
        stmt = self.select().where(
            RouterDecision.conversation_id == conversation_id, RouterDecision.created_at <= until
        )
        if since is not None:
            stmt = stmt.where(RouterDecision.created_at >= since)
        stmt = stmt.order_by(RouterDecision.created_at.desc(), RouterDecision.id.desc()).limit(1)
        return await self.one_or_none(stmt)

    async def without_outcome(
        self, conversation_id: str, *, until: datetime, limit: int
    ) -> Sequence[RouterDecision]:
        """The conversation's decisions up to ``until`` that have no outcome yet, oldest first,
        locked together (PostgreSQL): a transaction rewarding several of them then never waits for
        one while holding the policy another feedback needs."""
        stmt = (
            self.select()
            .where(
                RouterDecision.conversation_id == conversation_id,
                RouterDecision.created_at <= until,
                RouterDecision.feedback_at.is_(None),
            )
            .order_by(RouterDecision.created_at, RouterDecision.id)
            .limit(limit)
            .with_for_update()
        )
        return await self.all(stmt)

    async def tier_stats(self) -> list[dict[str, Any]]:
        """Per tier: decisions, feedback, explorations, early exits, reward, quality and cost."""
        stmt = (
            select(
                RouterDecision.tier,
                func.count(),
                func.count(RouterDecision.feedback_at),
                func.sum(func.cast(RouterDecision.explored, Integer())),
                func.sum(func.cast(RouterDecision.early_exit, Integer())),
                func.avg(RouterDecision.reward),
                func.avg(RouterDecision.quality),
                func.sum(RouterDecision.cost_micros),
            )
            .group_by(RouterDecision.tier)
            .order_by(RouterDecision.tier)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            {
                "tier": tier,
                "decisions": int(decisions),
                "feedback": int(feedback),
                "explored": int(explored or 0),
                "early_exits": int(early or 0),
                "mean_reward": None if reward is None else float(reward),
                "mean_quality": None if quality is None else float(quality),
                "cost_micros": int(cost or 0),
            }
            for tier, decisions, feedback, explored, early, reward, quality, cost in rows
        ]


class IntentExampleRepository(Repository[IntentExample]):
    model = IntentExample

    async def clear(self) -> None:
        await self.session.execute(delete(IntentExample))

    async def label_counts(self) -> dict[str, int]:
        stmt = (
            select(IntentExample.label, func.count())
            .group_by(IntentExample.label)
            .order_by(IntentExample.label)
        )
        return {label: int(n) for label, n in (await self.session.execute(stmt)).all()}

    async def pairs(self) -> list[tuple[str, str]]:
        stmt = select(IntentExample.text, IntentExample.label).order_by(IntentExample.id)
        return [(text, label) for text, label in (await self.session.execute(stmt)).all()]


class IntentModelRepository(Repository[IntentModelVersion]):
    model = IntentModelVersion

    async def next_version(self) -> int:
        result = await self.session.execute(select(func.max(IntentModelVersion.version)))
        return int(result.scalar_one_or_none() or 0) + 1

    async def active(self) -> IntentModelVersion | None:
        return await self.one_or_none(
            self.select().where(IntentModelVersion.active.is_(True)).limit(1)
        )

    async def with_artifact(self, model_id: UUID) -> IntentModelVersion | None:
        stmt = (
            self.select()
            .where(IntentModelVersion.id == model_id)
            .options(undefer(IntentModelVersion.artifact))
        )
        return await self.one_or_none(stmt)

    async def deactivate_all(self) -> None:
        await self.session.execute(
            update(IntentModelVersion)
            .where(IntentModelVersion.active.is_(True))
            .values(active=False)
        )
