"""A tenant's routing state as decisions read it: settings, live policy versions, active intent model.

The database is the source of truth. Reads go through two caches: this replica's memory (a couple of
seconds) and the platform cache (shared by replicas, invalidated after each committed change), so a
decision usually costs no query, and every replica sees a change within ``state_cache_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from aiaas.backends.cache import Cache
from aiaas.kit.errors import AppError
from aiaas.router.bandit import LinUCB
from aiaas.router.config import RouterSettings
from aiaas.router.features import DIMENSIONS
from aiaas.router.models import RouterPolicy
from aiaas.router.policy import PolicyParams, PolicyStatus
from aiaas.router.repository import IntentModelRepository, PolicyRepository, SettingsRepository

log = logging.getLogger(__name__)

SHARED_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class LivePolicy:
    id: UUID
    version: int
    status: str
    params: PolicyParams
    traffic_share: float
    bandit: LinUCB
    revision: int


@dataclass(frozen=True)
class TenantRouting:
    cost_weight: float
    early_exit_confidence: float
    intent_workflows: dict[str, str]
    incumbent: LivePolicy | None
    canary: LivePolicy | None
    intent_model_id: UUID | None

    @property
    def recent_quality(self) -> dict[str, float]:
        return self.incumbent.bandit.outcomes if self.incumbent else {}


def cache_key(tenant_id: UUID) -> str:
    return f"router:state:{tenant_id}"


class RoutingState:
    """Loads and caches :class:`TenantRouting` per tenant."""

    def __init__(self, cache: Cache, config: RouterSettings, arms: list[str]) -> None:
        self.cache = cache
        self.config = config
        self.arms = arms
        self._local: dict[UUID, tuple[float, TenantRouting]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self, session: AsyncSession, tenant_id: UUID) -> TenantRouting:
        routing = await self.cached(tenant_id)
        if routing is not None:
            return routing
        data = await self.read_database(session)
        await self._shared_set(tenant_id, data)
        return self._hold(tenant_id, self.build(data))

    async def cached(self, tenant_id: UUID) -> TenantRouting | None:
        """The tenant's routing from this replica's memory or the shared cache, without the
        database; ``None`` when neither holds it."""
        held = self._local.get(tenant_id)
        if held is not None and time.monotonic() - held[0] < self.config.state_cache_seconds:
            return held[1]
        data = await self._shared_get(tenant_id)
        if data is None:
            return None
        return self._hold(tenant_id, self.build(data))

    def _hold(self, tenant_id: UUID, routing: TenantRouting) -> TenantRouting:
        self._local[tenant_id] = (time.monotonic(), routing)
        return routing

    def forget(self, tenant_id: UUID) -> None:
        """Drop this replica's copy now (the shared copy goes after the commit)."""
        self._local.pop(tenant_id, None)

    def invalidate_after_commit(self, session: AsyncSession, tenant_id: UUID) -> None:
        """Drop both copies once ``session`` commits, so no replica keeps the old state."""
        self.forget(tenant_id)
        loop = asyncio.get_running_loop()

        def after_commit(_session: Session) -> None:
            self.forget(tenant_id)
            task = loop.create_task(self._shared_delete(tenant_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        event.listen(session.sync_session, "after_commit", after_commit, once=True)

    # ---- layers ---------------------------------------------------------------------------------
    async def read_database(self, session: AsyncSession) -> dict[str, Any]:
        settings = await SettingsRepository(session).current()
        policies = await PolicyRepository(session).live()
        active_model = await IntentModelRepository(session).active()
        return {
            "cost_weight": settings.cost_weight if settings else None,
            "early_exit_confidence": settings.early_exit_confidence if settings else None,
            "intent_workflows": dict(settings.intent_workflows) if settings else {},
            "policies": [policy_data(p) for p in policies],
            "intent_model_id": str(active_model.id) if active_model else None,
        }

    def build(self, data: dict[str, Any]) -> TenantRouting:
        incumbent = canary = None
        for item in data["policies"]:
            live = LivePolicy(
                id=UUID(item["id"]),
                version=item["version"],
                status=item["status"],
                params=PolicyParams.model_validate(item["params"]),
                traffic_share=item["traffic_share"],
                bandit=LinUCB.from_dict(item["state"], self.arms, DIMENSIONS),
                revision=item["revision"],
            )
            if live.status == PolicyStatus.ACTIVE:
                incumbent = live
            else:
                canary = live
        cost_weight = data["cost_weight"]
        early_exit = data["early_exit_confidence"]
        return TenantRouting(
            cost_weight=self.config.cost_weight if cost_weight is None else cost_weight,
            early_exit_confidence=(
                self.config.early_exit_confidence if early_exit is None else early_exit
            ),
            intent_workflows={str(k): str(v) for k, v in data["intent_workflows"].items()},
            incumbent=incumbent,
            canary=canary,
            intent_model_id=UUID(data["intent_model_id"]) if data["intent_model_id"] else None,
        )

    async def _shared_get(self, tenant_id: UUID) -> dict[str, Any] | None:
        try:
            raw = await self.cache.get(cache_key(tenant_id))
        except AppError:
            log.warning("router state cache unavailable; reading the database", exc_info=True)
            return None
        if raw is None:
            return None
        loaded: dict[str, Any] = json.loads(raw)
        return loaded

    async def _shared_set(self, tenant_id: UUID, data: dict[str, Any]) -> None:
        try:
            await self.cache.set(
                cache_key(tenant_id), json.dumps(data).encode(), ttl_seconds=SHARED_TTL_SECONDS
            )
        except AppError:
            log.warning("router state cache unavailable; not cached", exc_info=True)

    async def _shared_delete(self, tenant_id: UUID) -> None:
        try:
            await self.cache.delete(cache_key(tenant_id))
        except AppError:
            log.warning("router state cache unavailable; entry expires on its own", exc_info=True)


def policy_data(policy: RouterPolicy) -> dict[str, Any]:
    return {
        "id": str(policy.id),
        "version": policy.version,
        "status": policy.status,
        "params": policy.params,
        "traffic_share": policy.traffic_share,
        "state": policy.state,
        "revision": policy.revision,
    }
