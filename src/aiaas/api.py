"""Every domain's routes under /api/v1 (and nothing else)."""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.events.endpoints import router as events_router
from aiaas.tenancy.endpoints import routers as tenancy_routers

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for domain_router in (*tenancy_routers, events_router):
        router.include_router(domain_router)
    return router
