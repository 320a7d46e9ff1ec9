"""Walk an app's API routes, whether FastAPI keeps them flat or as included routers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    endpoint: Any
    dependant: Dependant
    route: Any
    """The route object itself (the original route of an included copy)."""


def api_routes(app: FastAPI) -> Iterator[RouteInfo]:
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield RouteInfo(
                route.path, frozenset(route.methods), route.endpoint, route.dependant, route
            )
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                if ctx.dependant is None:
                    continue
                yield RouteInfo(
                    ctx.path,
                    frozenset(ctx.methods or ()),
                    ctx.endpoint,
                    ctx.dependant,
                    ctx.original_route,
                )
