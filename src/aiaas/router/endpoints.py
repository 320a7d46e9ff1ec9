"""HTTP routes of the router under /router: decide, feedback, stats, settings, policy versions and
intent training."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, status

from aiaas.kit.errors import NotFound
from aiaas.kit.pagination import PageParams, page_params
from aiaas.kit.routing import GuardedRoute
from aiaas.router import admin, training
from aiaas.router.models import IntentModelVersion
from aiaas.router.policy import PolicyParams
from aiaas.router.repository import DecisionRepository, IntentModelRepository
from aiaas.router.schemas import (
    DecideIn,
    DecisionOut,
    DecisionRecord,
    ExamplesIn,
    ExamplesOut,
    FeedbackIn,
    FeedbackOut,
    IntentModelList,
    IntentModelOut,
    PolicyIn,
    PolicyList,
    PolicyOut,
    SettingsIn,
    SettingsOut,
    StatsOut,
)
from aiaas.router.service import RouterService
from aiaas.tenancy.dependencies import PlatformDep, TenantSession, TenantWriteSession, require
from aiaas.tenancy.permissions import Principal

router = APIRouter(route_class=GuardedRoute, prefix="/router", tags=["router"])

Reader = Annotated[Principal, require("router:read")]
Writer = Annotated[Principal, require("router:write")]
Page = Annotated[PageParams, Depends(page_params)]


def _service(platform: PlatformDep) -> RouterService:
    return platform.router


Service = Annotated[RouterService, Depends(_service)]


@router.post("/decide", response_model=DecisionOut)
async def decide(
    body: DecideIn, principal: Writer, session: TenantWriteSession, service: Service
) -> DecisionOut:
    """Choose the workflow and model tier for one turn, with the features and reasons behind it."""
    decision = await service.decide(
        session,
        principal,
        body.message,
        conversation_id=body.conversation_id,
        turn=body.turn,
        customer_tier=body.customer_tier,
        retrieval_confidence=body.retrieval_confidence,
    )
    return DecisionOut(
        id=decision.id,
        workflow=decision.workflow,
        tier=decision.tier,
        model=decision.model,
        confidence=decision.confidence,
        early_exit=decision.early_exit,
        explored=decision.explored,
        intent=decision.intent,
        policy_version=decision.policy_version,
        canary=decision.canary,
        features=dict(decision.features),
        reasons=decision.reasons,
    )


@router.get("/decisions/{decision_id}", response_model=DecisionRecord)
async def get_decision(decision_id: UUID, _: Reader, session: TenantSession) -> DecisionRecord:
    """A past decision with its outcome, once feedback arrived."""
    row = await DecisionRepository(session).get(decision_id)
    if row is None:
        raise NotFound("no such decision", code="decision_not_found")
    return DecisionRecord.model_validate(row)


@router.post("/feedback", response_model=FeedbackOut)
async def feedback(
    body: FeedbackIn, _: Writer, session: TenantWriteSession, service: Service
) -> FeedbackOut:
    """The outcome of a decision: the policy learns reward = quality - lambda x cost."""
    result = await service.feedback(
        session,
        body.decision_id,
        rating=body.rating,
        resolved=body.resolved,
        handoff=body.handoff,
        reask=body.reask,
        cost_micros=body.cost_micros,
        input_tokens=body.input_tokens,
        output_tokens=body.output_tokens,
    )
    return FeedbackOut(
        decision_id=result.decision_id,
        tier=result.tier,
        quality=result.quality,
        reward=result.reward,
        cost_micros=result.cost_micros,
        policy_events=result.policy_events,
    )


@router.get("/stats", response_model=StatsOut)
async def stats(_: Reader, session: TenantSession) -> StatsOut:
    """Per tier: traffic, reward and cost; per live policy version: its reward."""
    return StatsOut.model_validate(await admin.stats(session))


@router.get("/settings", response_model=SettingsOut)
async def get_settings(_: Reader, session: TenantSession, service: Service) -> SettingsOut:
    routing = await admin.current_settings(service, session)
    return _settings_out(service, routing)


@router.put("/settings", response_model=SettingsOut)
async def put_settings(
    body: SettingsIn, _: Writer, session: TenantWriteSession, service: Service
) -> SettingsOut:
    """Change lambda (cost weight), the early-exit threshold or the intent -> workflow map."""
    routing = await admin.update_settings(service, session, body.model_dump(exclude_unset=True))
    return _settings_out(service, routing)


def _settings_out(service: RouterService, routing: admin.TenantRouting) -> SettingsOut:
    return SettingsOut(
        cost_weight=routing.cost_weight,
        early_exit_confidence=routing.early_exit_confidence,
        intent_workflows=routing.intent_workflows,
        tiers=service.arms,
        safe_tier=service.safe_tier,
    )


@router.get("/policies", response_model=PolicyList)
async def list_policies(_: Reader, session: TenantSession) -> PolicyList:
    """Every policy version, newest first."""
    rows = await admin.list_policies(session)
    return PolicyList(items=[PolicyOut.model_validate(p) for p in rows])


@router.post("/policies", response_model=PolicyOut, status_code=status.HTTP_201_CREATED)
async def create_policy(
    body: PolicyIn, _: Writer, session: TenantWriteSession, service: Service
) -> PolicyOut:
    """Start a new policy version as a canary on ``traffic_share`` of conversations."""
    params = PolicyParams.model_validate(body.model_dump(exclude={"traffic_share"}))
    policy = await admin.create_canary(service, session, params, body.traffic_share)
    return PolicyOut.model_validate(policy)


@router.get("/policies/{policy_id}", response_model=PolicyOut)
async def get_policy(policy_id: UUID, _: Reader, session: TenantSession) -> PolicyOut:
    return PolicyOut.model_validate(await admin.get_policy(session, policy_id))


@router.post("/intents/examples", response_model=ExamplesOut, status_code=status.HTTP_201_CREATED)
async def upload_examples(body: ExamplesIn, _: Writer, session: TenantWriteSession) -> ExamplesOut:
    """Add labelled examples (or replace the stored set) for training the intent classifier."""
    counts = await training.add_examples(
        session, [(e.text, e.label) for e in body.examples], replace=body.replace
    )
    return ExamplesOut(total=sum(counts.values()), labels=counts)


@router.get("/intents/examples", response_model=ExamplesOut)
async def examples_summary(_: Reader, session: TenantSession) -> ExamplesOut:
    counts = await training.label_counts(session)
    return ExamplesOut(total=sum(counts.values()), labels=counts)


@router.post("/intents/train", response_model=IntentModelOut, status_code=status.HTTP_202_ACCEPTED)
async def train(_: Writer, session: TenantWriteSession, platform: PlatformDep) -> IntentModelOut:
    """Queue training of a new classifier version; the worker trains it (poll its progress)."""
    row = await training.request_training(session)
    return await _model_out(platform, row)


@router.get("/intents/models", response_model=IntentModelList)
async def list_models(
    _: Reader, session: TenantSession, platform: PlatformDep, page: Page
) -> IntentModelList:
    repo = IntentModelRepository(session)
    rows, cursor = await repo.page(repo.select(), page)
    return IntentModelList(items=[await _model_out(platform, r) for r in rows], next_cursor=cursor)


@router.get("/intents/models/{intent_model_id}", response_model=IntentModelOut)
async def get_model(
    intent_model_id: UUID, _: Reader, session: TenantSession, platform: PlatformDep
) -> IntentModelOut:
    return await _model_out(platform, await training.get_model(session, intent_model_id))


@router.post("/intents/models/{intent_model_id}/activate", response_model=IntentModelOut)
async def activate_model(
    intent_model_id: UUID, _: Writer, session: TenantWriteSession, platform: PlatformDep
) -> IntentModelOut:
    """Make a trained version the one decisions use."""
    row = await training.activate(session, platform.router.state, intent_model_id)
    return await _model_out(platform, row)


async def _model_out(platform: PlatformDep, row: IntentModelVersion) -> IntentModelOut:
    progress, stage = await training.progress(platform.cache, row)
    shown = row.status
    if shown == training.ModelStatus.QUEUED and progress > 0:
        shown = training.ModelStatus.TRAINING
    return IntentModelOut(
        id=row.id,
        version=row.version,
        status=shown,
        progress=progress,
        stage=stage,
        active=row.active,
        examples=row.examples,
        labels=list(row.labels),
        metrics=dict(row.metrics),
        error=row.error,
        created_at=row.created_at,
        trained_at=row.trained_at,
    )
