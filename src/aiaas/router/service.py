"""The router: per turn, which workflow handles a message and which model tier answers it; and, per
outcome, what the tier policy learns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import FromClause
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.backends.cache import Cache
from aiaas.backends.llm.config import LOCAL_MODEL, ModelCatalog, ModelInfo
from aiaas.events import insert_events, outbox_row
from aiaas.kit.clock import utcnow
from aiaas.kit.db import Database, insert_rows, session_tenant
from aiaas.kit.errors import AppError, ValidationFailed
from aiaas.kit.ids import new_id
from aiaas.router import policy as rules
from aiaas.router.bandit import LinUCB
from aiaas.router.classifier import IntentModels, predict
from aiaas.router.config import RouterSettings
from aiaas.router.events import DecisionMade
from aiaas.router.features import DIMENSIONS, FeatureCache, Features, TurnInput, extract
from aiaas.router.learning import OutcomeLearning, TenantRequired
from aiaas.router.models import RouterDecision, RouterPolicy
from aiaas.router.policy import PolicyParams, PolicyStatus
from aiaas.router.repository import PolicyRepository
from aiaas.router.state import LivePolicy, RoutingState, TenantRouting
from aiaas.tenancy.permissions import Principal

log = logging.getLogger(__name__)

EARLY_EXIT_TIER = "knowledge_base"


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

    def rows(self) -> tuple[list[tuple[FromClause, dict[str, Any]]], list[dict[str, Any]]]:
        """The decision's row and its ``router.decision.made`` outbox row, for a bulk insert in
        a transaction of its tenant (the event takes the current request context now)."""
        table = RouterDecision.__table__
        values = {c.name: self.row.__dict__[c.name] for c in table.c if c.name in self.row.__dict__}
        event = outbox_row(
            self.tenant_id,
            "router.decision.made",
            self.event,
            subject_type="router_decision",
            subject_id=self.row.id,
        )
        return [(table, values)], [event]


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


def tier_arms(catalog: ModelCatalog, models: Sequence[ModelInfo]) -> list[str]:
    """The tiers the policy chooses among, cheapest first; the offline model only when alone."""
    priced: dict[str, int] = {}
    for model in models:
        if model.name == LOCAL_MODEL and len(catalog.tiers) > 1:
            continue
        price = model.input_price_micros_per_million + model.output_price_micros_per_million
        priced.setdefault(model.tier, price)
    return sorted(priced, key=lambda tier: (priced[tier], tier)) or [catalog.default_tier]


class RouterService(OutcomeLearning):
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
    # writes its ``rows()`` with the call's usage in the one transaction it writes anyway.
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
        """Decide for one turn without recording it yet: pass the result to :meth:`record`, or
        write its :meth:`PreparedDecision.rows` in a transaction of the tenant.

        The database is read only when this replica has no cached routing state or intent model
        for the tenant (and written only for a tenant's very first policy).
        """
        tenant_id, plan = _tenant_and_plan(principal_or_tenant)
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
        rows, events = prepared.rows()
        for table, values in rows:
            await insert_rows(session, table, [values])
        await insert_events(session, events)

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

    # ---- helpers --------------------------------------------------------------------------------
    def _tenant(
        self, session: AsyncSession, principal_or_tenant: Principal | UUID
    ) -> tuple[UUID, str | None]:
        tenant_id, plan = _tenant_and_plan(principal_or_tenant)
        if session_tenant(session) != tenant_id:
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


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def _tenant_and_plan(principal_or_tenant: Principal | UUID) -> tuple[UUID, str | None]:
    if isinstance(principal_or_tenant, Principal):
        tenant_id, plan = principal_or_tenant.tenant_id, principal_or_tenant.plan
    else:
        tenant_id, plan = principal_or_tenant, None
    if tenant_id is None:
        raise TenantRequired("routing needs a tenant")
    return tenant_id, plan
