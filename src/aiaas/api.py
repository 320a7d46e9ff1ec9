"""Every domain's routes under /api/v1 (and nothing else)."""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.chat.routes import routers as chat_routers
from aiaas.events.endpoints import router as events_router
from aiaas.ingestion.endpoints import router as ingestion_router
from aiaas.kit.routing import include_gated
from aiaas.orchestrator.endpoints import router as orchestrator_router
from aiaas.router.endpoints import router as router_router
from aiaas.tenancy.endpoints import routers as tenancy_routers
from aiaas.tools.endpoints import router as tools_router

API_PREFIX = "/api/v1"


def include_api(parent: APIRouter) -> None:
    """Include every domain's router under ``/api/v1``, each behind its own path gate."""
    for domain_router in (
        *tenancy_routers,
        *chat_routers,
        events_router,
        ingestion_router,
        router_router,
        orchestrator_router,
        tools_router,
    ):
        include_gated(parent, domain_router, prefix=API_PREFIX)
