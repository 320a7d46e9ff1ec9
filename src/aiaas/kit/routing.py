"""Route matching that stays cheap as the API grows.

FastAPI matches a request against an included router by trying each of its routes in turn, and it
does so for every included router until one matches. With every domain under one prefix, a request
for the last domain paid for a regex match of every route before it. A path gate answers "no" for a
whole router with one string comparison when the request path cannot be under its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fastapi.routing as _fastapi
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send


class PathGatedRouter(APIRouter):
    """An ``APIRouter`` that declines at once every request whose path is not under ``path_gate``."""

    def __init__(self, path_gate: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path_gate = path_gate

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """``Match.NONE`` without trying any route when the path is outside the gate."""
        # Behind a proxy that sets root_path, leave the decision to the full match.
        if not scope.get("root_path") and not scope["path"].startswith(self.path_gate):
            return Match.NONE, {}
        return super().matches(scope)


def include_gated(parent: APIRouter, router: APIRouter, *, prefix: str = "") -> None:
    """Include ``router`` in ``parent`` under ``prefix``, behind a gate on its full path prefix.

    The gate takes over ``router``'s routes, which already carry its prefix, tags and
    dependencies, rather than including ``router`` itself: every level of included routers is
    re-checked on each request. Call it once ``router`` has all its routes.
    """
    gate = PathGatedRouter(prefix + router.prefix)
    gate.routes.extend(router.routes)
    parent.include_router(gate, prefix=prefix)


class StaticRouteIndex(BaseRoute):
    """One dictionary lookup for the API's routes that have no path parameters.

    FastAPI matches a request by asking every top-level route in turn and, for an included
    router, matches its routes twice (once to choose it, once to handle). For a path with no
    parameters the answer can be known in advance. Placed first in the application's routes, this
    route claims such a request and hands it to the route FastAPI would have chosen, set up as
    FastAPI's own inclusion would set it up. Everything else (paths with parameters, methods the
    path does not accept, websockets, a ``root_path``) it declines, and the ordinary matching
    goes on.

    A path is indexed only when no route before its own could also match it, so the index never
    changes which route answers.
    """

    def __init__(self, app_router: APIRouter) -> None:
        self._app_router = app_router
        self._index: dict[str, list[_IndexedRoute]] | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """``Match.FULL`` with the chosen route for an indexed path and method, else ``Match.NONE``."""
        if scope["type"] != "http" or scope.get("root_path"):
            return Match.NONE, {}
        index = self._index
        if index is None:
            index = self._index = build_static_index(self._app_router)
        candidates = index.get(scope["path"])
        if candidates is None:
            return Match.NONE, {}
        method = scope["method"]
        for candidate in candidates:
            if not candidate.methods or method in candidate.methods:
                child_scope = {
                    "endpoint": candidate.context.endpoint,
                    "path_params": dict(scope.get("path_params", {})),
                    "route": candidate.context.original_route,
                    _SELECTED_KEY: candidate,
                }
                return Match.FULL, child_scope
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the chosen route, as FastAPI's included router would."""
        candidate: _IndexedRoute = scope.pop(_SELECTED_KEY)
        included = candidate.included_router
        _fastapi._apply_router_form_limits(scope, included.include_context.form_limits)
        fastapi_scope = _fastapi._get_fastapi_scope(scope)
        fastapi_scope[_fastapi._FASTAPI_INCLUDED_ROUTER_KEY] = included
        _fastapi._route_selected(scope=scope, path=candidate.context.path_format, mount=False)
        fastapi_scope[_fastapi._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = candidate.context
        await candidate.context.original_route.handle(scope, receive, send)


_SELECTED_KEY = "aiaas.static_route"


@dataclass(frozen=True, slots=True)
class _IndexedRoute:
    context: Any  # fastapi.routing._EffectiveRouteContext
    included_router: Any  # fastapi.routing._IncludedRouter
    methods: frozenset[str]


def build_static_index(app_router: APIRouter) -> dict[str, list[_IndexedRoute]]:
    """Map each parameterless API path to the routes that serve it, in FastAPI's order.

    Walks the application's routes in order, keeping the patterns of every route seen so far; a
    path some earlier route could match is left out (that route might win). Routes of a kind the
    walk does not understand end the walk: nothing after them is indexed.
    """
    index: dict[str, list[_IndexedRoute]] = {}
    # (path, pattern) of every route before the current one
    earlier: list[tuple[str | None, Any]] = []

    def shadowed(path: str) -> bool:
        # Routes of the same path only differ by method: which of them answers is decided below.
        return any(other != path and pattern.match(path) for other, pattern in earlier)

    for route in app_router.routes:
        if isinstance(route, StaticRouteIndex):
            continue
        if not isinstance(route, _fastapi._IncludedRouter):
            pattern = getattr(route, "path_regex", None)
            if pattern is None:
                break
            earlier.append((getattr(route, "path_format", None), pattern))
            continue
        for candidate in route.effective_candidates():
            context_pattern = getattr(candidate, "path_regex", None)
            if not isinstance(candidate, _fastapi._EffectiveRouteContext) or (
                context_pattern is None
            ):
                # A router nested deeper, or a route without a pattern: not indexed, and it may
                # match anything, so nothing after it is either.
                return index
            if isinstance(candidate.original_route, APIRoute) and not candidate.param_convertors:
                path = candidate.path_format
                if not shadowed(path):
                    index.setdefault(path, []).append(
                        _IndexedRoute(candidate, route, frozenset(candidate.methods or ()))
                    )
            earlier.append((candidate.path_format, context_pattern))
    return index


def install_static_route_index(app_router: APIRouter) -> StaticRouteIndex:
    """Put a :class:`StaticRouteIndex` first in ``app_router``; call once every route is added."""
    index = StaticRouteIndex(app_router)
    app_router.routes.insert(0, index)
    return index
