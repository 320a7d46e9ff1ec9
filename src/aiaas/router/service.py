"""The router: per turn, which workflow handles a message and which model tier answers it; and, per
outcome, what the tier policy learns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.cache import Cache
from aiaas.backends.llm.config import LOCAL_MODEL, ModelCatalog, ModelInfo
from aiaas.events import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.db import Database, session_tenant
from aiaas.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from aiaas.kit.ids import new_id
from aiaas.router import policy as rules
from aiaas.router.bandit import LinUCB
from aiaas.router.classifier import IntentModels, predict
from aiaas.router.config import RouterSettings
from aiaas.router.events import DecisionMade, FeedbackReceived, RewardRevised
from aiaas.router.features import DIMENSIONS, FeatureCache, Features, TurnInput, extract
from aiaas.router.models import OUTCOME_EXPLICIT, OUTCOME_IMPLICIT, RouterDecision, RouterPolicy
from aiaas.router.policy import Outcome, PolicyParams, PolicyStatus
from aiaas.router.repository import DecisionRepository, PolicyRepository
from aiaas.router.state import LivePolicy, RoutingState, TenantRouting
from aiaas.router.versions import apply_canary_verdict
from aiaas.tenancy.permissions import Principal

log = logging.getLogger(__name__)

EARLY_EXIT_TIER = "knowledge_base"
ESTIMATED_CONTEXT_TOKENS = 400
ESTIMATED_OUTPUT_TOKENS = 150


@dataclass(frozen=True)
class Decision:
    """What the router decided for one turn, and why."""

    id: UUID
    workflow: str
    tier: str
    model: str | None
    confidence: float
    features: Mapping[str, Any]
    reasons: list[str]
    early_exit: bool
    explored: bool = False
    intent: str | None = None
    policy_version: int | None = None
    canary: bool = False


@dataclass(frozen=True)
class PreparedDecision:
    """A decision made but not yet recorded: :meth:`RouterService.record` persists it."""

    decision: Decision
    tenant_id: UUID
    row: RouterDecision
    event: DecisionMade

    @property
    def id(self) -> UUID:
        return self.decision.id


SessionSource = Callable[[], Awaitable[AsyncSession]]


class _LazySession:
    """A write transaction of one tenant, begun only if a decision turns out to need the database
    (a cold cache or a tenant's first policy) and committed when the block ends."""

    def __init__(self, db: Database, tenant_id: UUID) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._stack = AsyncExitStack()
        self._session: AsyncSession | None = None

    async def __call__(self) -> AsyncSession:
        if self._session is None:
            self._session = await self._stack.enter_async_context(
                self._db.transaction(self._tenant_id, write=True)
            )
        return self._session

    async def __aenter__(self) -> _LazySession:
        return self

    async def __aexit__(self, *exc: object) -> bool | None:
        return await self._stack.__aexit__(*exc)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FeedbackResult:
    decision_id: UUID
    tier: str
    quality: float
    reward: float
    cost_micros: int
    policy_events: list[str] = field(default_factory=list)


def tier_arms(catalog: ModelCatalog, models: Sequence[ModelInfo]) -> list[str]:
    """The tiers the policy chooses among, cheapest first; the offline model only when alone."""
    priced: dict[str, int] = {}
    for model in models:
        if model.name == LOCAL_MODEL and len(catalog.tiers) > 1:
            continue
        price = model.input_price_micros_per_million + model.output_price_micros_per_million
        priced.setdefault(model.tier, price)
    return sorted(priced, key=lambda tier: (priced[tier], tier)) or [catalog.default_tier]


class TenantRequired(AppError):
    status, code, title = 403, "tenant_required", "Tenant required"


class RouterService:
    """Decides per turn and learns from feedback. Stateless apart from caches: replicas share the
    database and the platform cache."""

    def __init__(
        self,
        config: RouterSettings,
        cache: Cache,
        catalog: ModelCatalog,
        models: Sequence[ModelInfo],
    ) -> None:
        self.config = config
        self.cache = cache
        self.catalog = catalog
        self.arms = tier_arms(catalog, models)
        if config.safe_tier and config.safe_tier in self.arms:
            self.safe_tier = config.safe_tier
        else:
            self.safe_tier = self.arms[-1]
        self.state = RoutingState(cache, config, self.arms)
        self.intent_models = IntentModels()
        self.feature_cache = FeatureCache(config.feature_cache_size)

    # ---- decide ---------------------------------------------------------------------------------
    # A decision is made in memory (the tenant's routing state and intent model are cached, so it
    # usually needs no query) and then recorded, row and event, in a transaction of the caller's
    # choosing: ``decide`` records it at once; a gateway ``prepare``s it before the model call and
    # ``record``s it with the call's usage in the one transaction it writes anyway.
    async def decide(
        self,
        session: AsyncSession,
        principal_or_tenant: Principal | UUID,
        message: str,
        *,
        conversation_id: str | None = None,
        turn: int = 1,
        customer_tier: str | None = None,
        retrieval_confidence: float | None = None,
    ) -> Decision:
        """Choose the workflow and model tier for one turn, record it (and its event)."""
        tenant_id, plan = self._tenant(session, principal_or_tenant)

        async def this_session() -> AsyncSession:
            return session

        prepared = await self._prepare(
            this_session,
            tenant_id,
            plan,
            TurnInput(message, turn, customer_tier, plan, retrieval_confidence),
            conversation_id,
        )
        await self.record(session, prepared)
        return prepared.decision

    async def prepare(
        self,
        db: Database,
        principal_or_tenant: Principal | UUID,
        message: str,
        *,
        conversation_id: str | None = None,
        turn: int = 1,
        customer_tier: str | None = None,
        retrieval_confidence: float | None = None,
    ) -> PreparedDecision:
        """Decide for one turn without recording it yet: pass the result to :meth:`record`.

        The database is read only when this replica has no cached routing state or intent model
        for the tenant (and written only for a tenant's very first policy).
        """
        if isinstance(principal_or_tenant, Principal):
            tenant_id, plan = principal_or_tenant.tenant_id, principal_or_tenant.plan
        else:
            tenant_id, plan = principal_or_tenant, None
        if tenant_id is None:
            raise TenantRequired("routing needs a tenant")
        async with _LazySession(db, tenant_id) as sessions:
            return await self._prepare(
                sessions,
                tenant_id,
                plan,
                TurnInput(message, turn, customer_tier, plan, retrieval_confidence),
                conversation_id,
            )

    async def record(self, session: AsyncSession, prepared: PreparedDecision) -> None:
        """Persist a prepared decision and its ``router.decision.made`` event in ``session``."""
        if session_tenant(session) != prepared.tenant_id:
            raise TenantRequired("a decision is recorded in a session of its tenant")
        session.add(prepared.row)
        await record_event(
            session,
            "router.decision.made",
            prepared.event,
            subject_type="router_decision",
            subject_id=prepared.row.id,
        )

    async def _prepare(
        self,
        sessions: SessionSource,
        tenant_id: UUID,
        plan: str | None,
        turn_input: TurnInput,
        conversation_id: str | None,
    ) -> PreparedDecision:
        retrieval_confidence = turn_input.retrieval_confidence
        if turn_input.turn < 1:
            raise ValidationFailed("turn starts at 1", code="invalid_turn")
        if retrieval_confidence is not None and not 0.0 <= retrieval_confidence <= 1.0:
            raise ValidationFailed(
                "retrieval_confidence must be in [0, 1]", code="invalid_retrieval_confidence"
            )
        routing = await self.state.cached(tenant_id)
        if routing is None or routing.incumbent is None:
            session = await sessions()
            routing = await self.state.load(session, tenant_id)
            if routing.incumbent is None:
                await self._create_incumbent(session, tenant_id)
                routing = self.state.build(await self.state.read_database(session))
        decided_at = utcnow()
        decision_id = new_id()
        features = await self._features(sessions, tenant_id, routing, turn_input)
        reasons: list[str] = []
        workflow = self._workflow(routing, features, reasons)
        live = self._pick_policy(routing, conversation_id or str(decision_id))
        if (
            retrieval_confidence is not None
            and retrieval_confidence >= routing.early_exit_confidence
            and not features.out_of_scope
        ):
            tier, model, explored = EARLY_EXIT_TIER, None, False
            confidence = retrieval_confidence
            reasons.append(
                f"knowledge base answers alone: retrieval confidence {retrieval_confidence:.2f}"
                f" >= {routing.early_exit_confidence:.2f}"
            )
            early_exit = True
        else:
            tier, explored, confidence = await self._tier(live, features, reasons)
            model = self.catalog.for_tier(tier).name
            early_exit = False
        turn = turn_input.turn
        row = RouterDecision(
            id=decision_id,
            tenant_id=tenant_id,
            policy_id=live.id if live else None,
            conversation_id=conversation_id,
            turn=turn,
            workflow=workflow,
            tier=tier,
            model=model,
            intent=features.intent,
            confidence=confidence,
            early_exit=early_exit,
            explored=explored,
            features=dict(features.values),
            vector=[float(v) for v in features.vector],
            reasons=reasons,
            created_at=decided_at,
        )
        canary = live is not None and live.status == PolicyStatus.CANARY
        event = DecisionMade(
            decision_id=decision_id,
            conversation_id=conversation_id,
            turn=turn,
            workflow=workflow,
            tier=tier,
            model=model or "",
            intent=features.intent,
            confidence=confidence,
            early_exit=early_exit,
            explored=explored,
            policy_version=live.version if live else None,
            canary=canary,
            reasons=reasons,
        )
        decision = Decision(
            id=decision_id,
            workflow=workflow,
            tier=tier,
            model=model,
            confidence=confidence,
            features=features.values,
            reasons=reasons,
            early_exit=early_exit,
            explored=explored,
            intent=features.intent,
            policy_version=live.version if live else None,
            canary=canary,
        )
        return PreparedDecision(decision, tenant_id, row, event)

    async def _features(
        self, sessions: SessionSource, tenant_id: UUID, routing: TenantRouting, turn: TurnInput
    ) -> Features:
        model_id = routing.intent_model_id
        key = FeatureCache.key(str(tenant_id), str(model_id) if model_id else None, turn)
        cached = self.feature_cache.get(key)
        if cached is not None:
            return cached
        prediction = None
        if model_id is not None:
            try:
                model = self.intent_models.loaded(model_id) or await self.intent_models.get(
                    await sessions(), model_id
                )
                prediction = await predict(model, turn.message) if model is not None else None
            except Exception:  # a broken artifact must not stop routing
                log.exception("intent model %s failed; routing without intents", model_id)
        features = extract(turn, intent=prediction, recent_quality=routing.recent_quality)
        self.feature_cache.put(key, features)
        return features

    def _workflow(self, routing: TenantRouting, features: Features, reasons: list[str]) -> str:
        if features.out_of_scope:
            reasons.append(
                f"out of scope (intent confidence {features.intent_confidence or 0:.2f}):"
                f" {self.config.fallback_workflow}"
            )
            return self.config.fallback_workflow
        if features.intent is not None:
            mapped = routing.intent_workflows.get(features.intent)
            if mapped:
                reasons.append(f"intent {features.intent!r} maps to workflow {mapped!r}")
                return mapped
            reasons.append(f"intent {features.intent!r} has no mapping: default workflow")
        else:
            reasons.append("no intent model: default workflow")
        return self.config.default_workflow

    def _pick_policy(self, routing: TenantRouting, key: str) -> LivePolicy | None:
        canary = routing.canary
        if canary is not None and rules.in_canary(key, canary.traffic_share):
            return canary
        return routing.incumbent

    async def _tier(
        self, live: LivePolicy | None, features: Features, reasons: list[str]
    ) -> tuple[str, bool, float]:
        if live is None:
            reasons.append(f"no policy yet: safe tier {self.safe_tier!r}")
            return self.safe_tier, False, 0.0
        params = live.params
        alpha = _first(params.exploration_alpha, self.config.exploration_alpha)
        share = _first(params.max_exploration_share, self.config.max_exploration_share)
        warmup = _first(params.warmup_feedback, self.config.warmup_feedback)
        safe = params.safe_tier if params.safe_tier in self.arms else self.safe_tier
        choice = live.bandit.choose(
            features.vector, alpha=alpha, allowed=params.allowed_tiers, safe_arm=safe, warmup=warmup
        )
        tier, explored = choice.greedy, False
        decisions = await self._count_decision(live.id)
        if choice.optimistic != choice.greedy and await self._may_explore(
            live.id, share, decisions
        ):
            tier, explored = choice.optimistic, True
        label = f"policy v{live.version}" + (" (canary)" if live.status == "canary" else "")
        if not choice.warm and not explored:
            reasons.append(
                f"{label} cold ({live.bandit.feedback}/{warmup} feedback): safe tier {tier!r}"
            )
        elif explored:
            reasons.append(
                f"{label} explores {tier!r} (upper bound"
                f" {choice.means[tier] + alpha * choice.bonuses[tier]:.3f}; budget {share:.0%})"
            )
        else:
            reasons.append(
                f"{label} expects the best reward from {tier!r}: {choice.means[tier]:.3f}"
            )
        confidence = 1.0 / (1.0 + alpha * choice.bonuses[tier])
        if features.intent_confidence is not None:
            confidence = min(confidence, features.intent_confidence)
        return tier, explored, round(confidence, 4)

    def _counter(self, policy_id: UUID, kind: str) -> str:
        return f"router:explore:{policy_id}:{kind}"

    async def _count_decision(self, policy_id: UUID) -> int:
        try:
            return await self.cache.incr(self._counter(policy_id, "decisions"))
        except AppError:
            return 0

    async def _may_explore(self, policy_id: UUID, share: float, decisions: int) -> bool:
        """Explore only while explored/decisions stays within ``share`` (counted across replicas)."""
        if share <= 0 or decisions == 0:
            return False
        try:
            explored = await self.cache.incr(self._counter(policy_id, "explored"))
            if explored > share * decisions:
                await self.cache.incr(self._counter(policy_id, "explored"), -1)
                return False
        except AppError:
            return False
        return True

    async def _create_incumbent(self, session: AsyncSession, tenant_id: UUID) -> None:
        """Cold tenant: version 1 starts with an empty state (the safe tier until warm)."""
        repo = PolicyRepository(session)
        try:
            async with session.begin_nested():
                policy = RouterPolicy(
                    version=await repo.next_version(),
                    status=PolicyStatus.ACTIVE.value,
                    params={},
                    traffic_share=1.0,
                    state=LinUCB(self.arms, DIMENSIONS).to_dict(),
                )
                session.add(policy)
                await session.flush()
        except IntegrityError:
            log.info("another replica created the first policy of tenant %s", tenant_id)
        self.state.forget(tenant_id)
        self.state.invalidate_after_commit(session, tenant_id)

    # ---- feedback -------------------------------------------------------------------------------
    # A decision has at most one outcome, and the policy learns it once. The first outcome, explicit
    # or inferred, is learnt; explicit feedback then replaces an inferred outcome (the policy's
    # reward for the decision is revised in place), and nothing replaces explicit feedback. The
    # cost charged is the turn's measured cost once known, so an outcome learnt before the turn's
    # cost was measured is revised when it is.
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

    # ---- helpers --------------------------------------------------------------------------------
    def _tenant(
        self, session: AsyncSession, principal_or_tenant: Principal | UUID
    ) -> tuple[UUID, str | None]:
        if isinstance(principal_or_tenant, Principal):
            tenant_id, plan = principal_or_tenant.tenant_id, principal_or_tenant.plan
        else:
            tenant_id, plan = principal_or_tenant, None
        if tenant_id is None or session_tenant(session) != tenant_id:
            raise TenantRequired("routing needs a session of the caller's tenant")
        return tenant_id, plan

    def params_valid(self, params: PolicyParams) -> None:
        unknown = [t for t in params.allowed_tiers or [] if t not in self.arms]
        if params.safe_tier is not None and params.safe_tier not in self.arms:
            unknown.append(params.safe_tier)
        if unknown:
            raise ValidationFailed(
                f"unknown tiers {unknown}; the catalog has {self.arms}", code="unknown_tier"
            )


def _quality(outcome: Outcome) -> float:
    quality = rules.quality(outcome)
    if quality is None:
        raise ValidationFailed(
            "give at least one of rating, resolved, handoff, reask", code="no_quality_signal"
        )
    return quality


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def _vector(values: Sequence[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.float64)
