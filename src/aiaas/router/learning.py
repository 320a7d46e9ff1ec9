"""What the router's tier policy learns from outcomes: explicit feedback, outcomes inferred from the
conversation, and the measured cost of each routed turn.

A decision has at most one outcome, and the policy learns it once. The first outcome, explicit or
inferred, is learnt; explicit feedback then replaces an inferred outcome (the policy's reward for the
decision is revised in place), and nothing replaces explicit feedback. The cost charged is the turn's
measured cost once known, so an outcome learnt before the turn's cost was measured is revised when
it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.llm.config import ModelCatalog
from aiaas.events import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.db import session_tenant
from aiaas.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from aiaas.router import policy as rules
from aiaas.router.bandit import LinUCB
from aiaas.router.config import RouterSettings
from aiaas.router.events import FeedbackReceived, RewardRevised
from aiaas.router.features import DIMENSIONS
from aiaas.router.models import OUTCOME_EXPLICIT, OUTCOME_IMPLICIT, RouterDecision, RouterPolicy
from aiaas.router.policy import Outcome, PolicyStatus
from aiaas.router.repository import DecisionRepository, PolicyRepository
from aiaas.router.state import RoutingState
from aiaas.router.versions import apply_canary_verdict

ESTIMATED_CONTEXT_TOKENS = 400
ESTIMATED_OUTPUT_TOKENS = 150


class TenantRequired(AppError):
    status, code, title = 403, "tenant_required", "Tenant required"


@dataclass(frozen=True)
class FeedbackResult:
    decision_id: UUID
    tier: str
    quality: float
    reward: float
    cost_micros: int
    policy_events: list[str] = field(default_factory=list)


class OutcomeLearning:
    """The feedback half of :class:`aiaas.router.service.RouterService` (the rules are in the
    module's description)."""

    config: RouterSettings
    catalog: ModelCatalog
    arms: list[str]
    state: RoutingState

    async def feedback(
        self,
        session: AsyncSession,
        decision_id: UUID,
        *,
        rating: float | None = None,
        resolved: bool | None = None,
        handoff: bool | None = None,
        reask: bool | None = None,
        cost_micros: int | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> FeedbackResult:
        """Record explicit feedback on a decision of this session's tenant and let its policy learn.

        An outcome the platform inferred earlier is replaced, not added to; a second explicit
        feedback is refused (``feedback_already_recorded``).
        """
        decision = await self._locked_decision(session, decision_id)
        if decision.feedback_at is not None and decision.outcome_source != OUTCOME_IMPLICIT:
            raise Conflict("this decision already has feedback", code="feedback_already_recorded")
        quality = _quality(Outcome(rating=rating, resolved=resolved, handoff=handoff, reask=reask))
        cost = self._cost(decision, cost_micros, input_tokens, output_tokens)
        return await self._settle(session, decision, quality, cost, OUTCOME_EXPLICIT)

    async def implicit_feedback(
        self,
        session: AsyncSession,
        decision_id: UUID,
        *,
        resolved: bool | None = None,
        handoff: bool | None = None,
        reask: bool | None = None,
    ) -> FeedbackResult | None:
        """Record an outcome inferred from the conversation (a handoff, a re-ask, a resolution).

        ``None`` when the decision already has an outcome: the first one stands, and explicit
        feedback may still replace it later.
        """
        decision = await self._locked_decision(session, decision_id)
        if decision.feedback_at is not None:
            return None
        quality = _quality(Outcome(resolved=resolved, handoff=handoff, reask=reask))
        cost = self._cost(decision, None, None, None)
        return await self._settle(session, decision, quality, cost, OUTCOME_IMPLICIT)

    async def record_turn_cost(
        self, session: AsyncSession, decision_id: UUID, cost_micros: int
    ) -> FeedbackResult | None:
        """Keep the measured cost of the turn a decision routed; it is what the reward charges.

        An outcome already learnt with another cost is re-scored (the result); otherwise ``None``.
        """
        if cost_micros < 0:
            raise ValidationFailed("cost_micros must be >= 0", code="invalid_cost")
        decision = await self._locked_decision(session, decision_id)
        decision.turn_cost_micros = cost_micros
        if decision.feedback_at is None or decision.quality is None:
            return None
        if decision.cost_micros == cost_micros:
            return None
        source = decision.outcome_source or OUTCOME_EXPLICIT
        return await self._settle(session, decision, decision.quality, cost_micros, source)

    async def conversation_decision(
        self,
        session: AsyncSession,
        conversation_id: str,
        *,
        since: datetime | None = None,
        until: datetime,
    ) -> UUID | None:
        """The conversation's last decision made in ``[since, until]`` (outcome signals are
        matched to the turn they followed by time)."""
        found = await DecisionRepository(session).latest_in_conversation(
            conversation_id, since=since, until=until
        )
        return found.id if found is not None else None

    async def decisions_without_outcome(
        self, session: AsyncSession, conversation_id: str, *, until: datetime, limit: int
    ) -> list[UUID]:
        """The conversation's decisions up to ``until`` that have no outcome yet, oldest first,
        locked for the rest of the transaction."""
        rows = await DecisionRepository(session).without_outcome(
            conversation_id, until=until, limit=limit
        )
        return [row.id for row in rows]

    async def _locked_decision(self, session: AsyncSession, decision_id: UUID) -> RouterDecision:
        if session_tenant(session) is None:
            raise TenantRequired("feedback needs a tenant session")
        decision = await DecisionRepository(session).locked(decision_id)
        if decision is None:
            raise NotFound("no such decision", code="decision_not_found")
        return decision

    def _cost(
        self,
        decision: RouterDecision,
        cost_micros: int | None,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> int:
        """The turn's measured cost, else the given cost, else one priced from tokens."""
        if decision.turn_cost_micros is not None:
            return decision.turn_cost_micros
        if cost_micros is not None:
            return cost_micros
        if decision.early_exit or decision.model is None or decision.model not in self.catalog:
            return 0
        model = self.catalog.get(decision.model)
        if input_tokens is None:
            input_tokens = int(decision.features.get("tokens", 0)) + ESTIMATED_CONTEXT_TOKENS
        if output_tokens is None:
            output_tokens = ESTIMATED_OUTPUT_TOKENS
        return model.cost_micros(input_tokens, output_tokens)

    async def _settle(
        self,
        session: AsyncSession,
        decision: RouterDecision,
        quality: float,
        cost: int,
        source: str,
    ) -> FeedbackResult:
        """Score the decision's outcome and let the policy learn it, or revise what it learnt."""
        tenant_id = session_tenant(session)
        assert tenant_id is not None  # _locked_decision checked it
        routing = await self.state.load(session, tenant_id)
        reward = rules.reward(quality, cost, routing.cost_weight)
        revising = decision.feedback_at is not None
        previous_quality, previous_reward = decision.quality, decision.reward
        if not revising or source != decision.outcome_source:
            decision.feedback_at = utcnow()
        decision.quality = quality
        decision.reward = reward
        decision.cost_micros = cost
        if revising and previous_quality is not None and previous_reward is not None:
            await record_event(
                session,
                "router.reward.revised",
                RewardRevised(
                    decision_id=decision.id,
                    tier=decision.tier,
                    source=source,
                    reason="explicit_feedback"
                    if source != decision.outcome_source
                    else "turn_cost",
                    quality=quality,
                    reward=reward,
                    previous_quality=previous_quality,
                    previous_reward=previous_reward,
                    cost_micros=cost,
                    cost_weight=routing.cost_weight,
                ),
                subject_type="router_decision",
                subject_id=decision.id,
            )
            decision.outcome_source = source
            policy_events = await self._learn(
                session,
                tenant_id,
                decision,
                quality - previous_quality,
                reward - previous_reward,
                revision=True,
            )
        else:
            decision.outcome_source = source
            await record_event(
                session,
                "router.feedback.received",
                FeedbackReceived(
                    decision_id=decision.id,
                    tier=decision.tier,
                    quality=quality,
                    reward=reward,
                    cost_micros=cost,
                    cost_weight=routing.cost_weight,
                ),
                subject_type="router_decision",
                subject_id=decision.id,
            )
            policy_events = await self._learn(session, tenant_id, decision, quality, reward)
        return FeedbackResult(decision.id, decision.tier, quality, reward, cost, policy_events)

    @staticmethod
    def _learner(live: Sequence[RouterPolicy], decision: RouterDecision) -> RouterPolicy | None:
        """The policy that learns a decision's outcome: its own, else (once that ended) the
        incumbent."""
        policy = next((p for p in live if p.id == decision.policy_id), None)
        if policy is None:
            policy = next((p for p in live if p.status == PolicyStatus.ACTIVE), None)
        return policy

    async def _learn(
        self,
        session: AsyncSession,
        tenant_id: UUID,
        decision: RouterDecision,
        quality: float,
        reward: float,
        *,
        revision: bool = False,
    ) -> list[str]:
        """Teach the policy a decision's outcome; with ``revision``, ``quality`` and ``reward`` are
        changes to what it already learnt from the decision (no second observation)."""
        repo = PolicyRepository(session)
        live = list(await repo.locked_live())
        policy = self._learner(live, decision)
        if policy is None:
            return []
        bandit = LinUCB.from_dict(policy.state, self.arms, DIMENSIONS)
        if not decision.early_exit:
            learn = bandit.revise if revision else bandit.update
            learn(decision.tier, _vector(decision.vector), reward)
        key = decision.features.get("similar_requests")
        if isinstance(key, str):
            (bandit.revise_outcome if revision else bandit.record_outcome)(key, quality)
        policy.state = bandit.to_dict()
        policy.revision += 1
        if policy.id == decision.policy_id:
            policy.feedback_count += 0 if revision else 1
            policy.reward_sum += reward
        await session.flush()
        events = await apply_canary_verdict(session, live, self.config)
        self.state.invalidate_after_commit(session, tenant_id)
        return events


def _quality(outcome: Outcome) -> float:
    quality = rules.quality(outcome)
    if quality is None:
        raise ValidationFailed(
            "give at least one of rating, resolved, handoff, reask", code="no_quality_signal"
        )
    return quality


def _vector(values: Sequence[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.float64)
