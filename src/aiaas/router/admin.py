"""Tenant-facing management of routing: settings (lambda, early exit, intent -> workflow), policy
versions and canaries, and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events import record_event
from aiaas.kit.db import session_tenant
from aiaas.kit.errors import NotFound
from aiaas.router.events import SettingsUpdated
from aiaas.router.learning import TenantRequired
from aiaas.router.models import RouterPolicy, RouterTenantSettings
from aiaas.router.policy import PolicyParams
from aiaas.router.repository import DecisionRepository, PolicyRepository, SettingsRepository
from aiaas.router.service import RouterService
from aiaas.router.state import TenantRouting
from aiaas.router.versions import start_canary


def _tenant(session: AsyncSession) -> UUID:
    tenant_id = session_tenant(session)
    if tenant_id is None:
        raise TenantRequired("routing needs a tenant session")
    return tenant_id


async def current_settings(service: RouterService, session: AsyncSession) -> TenantRouting:
    return await service.state.load(session, _tenant(session))


async def update_settings(
    service: RouterService, session: AsyncSession, changes: dict[str, Any]
) -> TenantRouting:
    """Change the tenant's routing settings; ``None`` resets a value to the platform default."""
    tenant_id = _tenant(session)
    repo = SettingsRepository(session)
    row = await repo.current()
    if row is None:
        row = await repo.add(RouterTenantSettings(intent_workflows={}))
    for name, value in changes.items():
        setattr(row, name, {} if name == "intent_workflows" and value is None else value)
    await session.flush()
    await record_event(
        session,
        "router.settings.updated",
        SettingsUpdated(changed=sorted(changes)),
        subject_type="router_settings",
        subject_id=row.id,
    )
    service.state.invalidate_after_commit(session, tenant_id)
    routing = service.state.build(await service.state.read_database(session))
    return routing


async def list_policies(session: AsyncSession) -> Sequence[RouterPolicy]:
    return await PolicyRepository(session).listed()


async def get_policy(session: AsyncSession, policy_id: UUID) -> RouterPolicy:
    policy = await PolicyRepository(session).get(policy_id)
    if policy is None:
        raise NotFound("no such policy version", code="policy_not_found")
    return policy


async def create_canary(
    service: RouterService, session: AsyncSession, params: PolicyParams, traffic_share: float
) -> RouterPolicy:
    tenant_id = _tenant(session)
    service.params_valid(params)
    canary = await start_canary(session, params, traffic_share)
    service.state.invalidate_after_commit(session, tenant_id)
    return canary


async def stats(session: AsyncSession) -> dict[str, Any]:
    """Per tier: traffic, outcomes, reward and cost; per live policy version: its reward."""
    tiers = await DecisionRepository(session).tier_stats()
    total = sum(t["decisions"] for t in tiers)
    for tier in tiers:
        tier["share"] = tier["decisions"] / total if total else 0.0
    policies = [
        {
            "id": p.id,
            "version": p.version,
            "status": p.status,
            "traffic_share": p.traffic_share,
            "feedback": p.feedback_count,
            "mean_reward": p.reward_sum / p.feedback_count if p.feedback_count else None,
        }
        for p in await PolicyRepository(session).live()
    ]
    return {"decisions": total, "tiers": tiers, "policies": policies}
