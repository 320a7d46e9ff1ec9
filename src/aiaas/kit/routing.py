"""Routing that stays cheap as the API grows: path gates, a static route index, guarded routes.

FastAPI matches a request against an included router by trying each of its routes in turn, and it
does so for every included router until one matches. With every domain under one prefix, a request
for the last domain paid for a regex match of every route before it. A path gate answers "no" for a
whole router with one string comparison when the request path cannot be under its prefix.
A guarded route runs the access guards of its endpoint before, and outside, dependency injection.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import fastapi.routing as _fastapi
from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

RequestGuard = Callable[[Request], Awaitable[Any]]
"""Computes a guard dependency's value from the request alone (see :func:`request_guard`)."""

_GUARD_ATTRIBUTE = "request_guard"
_GUARD_VALUES_KEY = "aiaas.guard_values"
_HOISTED_REQUEST_PARAM = "_aiaas_guarded_request"


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


def request_guard(dependency: Callable[..., Any], resolve: RequestGuard) -> None:
    """Mark ``dependency`` as an access guard whose value ``resolve(request)`` computes.

    On a :class:`GuardedRoute`, a guard among the endpoint's own dependencies runs before
    FastAPI solves the others, and its value reaches the endpoint without a dependency level:
    FastAPI's generic resolution of one sub-dependency costs about as much as checking an API key
    and charging both rate limits. ``resolve`` must give exactly what FastAPI would have computed
    for ``dependency`` and its sub-dependencies, and must be safe to call again in the same request
    (another dependency may still reach the guard through FastAPI). ``app.dependency_overrides``
    does not reach a guard the route runs itself: override what ``resolve`` calls instead.
    """
    setattr(dependency, _GUARD_ATTRIBUTE, resolve)


def _guard_of(dependant: Dependant) -> RequestGuard | None:
    guard: RequestGuard | None = getattr(dependant.call, _GUARD_ATTRIBUTE, None)
    return guard


class GuardedRoute(APIRoute):
    """An ``APIRoute`` that runs the endpoint's access guards first, outside dependency injection.

    The route's declared dependencies stay as written (OpenAPI and the access-declaration test
    read them); only the request handler is built from a copy without the guards. The guards then
    run, in declaration order, before FastAPI solves anything else, so a refused caller never gets
    as far as body validation or another dependency.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler for the dependant without its guards, behind the guards."""
        # FastAPI builds an included route's handler from the included copy (router dependencies
        # added), which it announces in this context variable while it does so.
        effective = _fastapi._effective_route_context_var.get()
        holder: Any = (
            effective if effective is not None and effective.original_route is self else self
        )
        declared: Dependant = holder.dependant
        guards: list[tuple[str | None, RequestGuard]] = []
        kept: list[Dependant] = []
        for sub in declared.dependencies:
            guard = _guard_of(sub)
            if guard is None:
                kept.append(sub)
            else:
                guards.append((sub.name, guard))
        # A generator endpoint streams its items: FastAPI tells one from its call, so it keeps it.
        if not guards or _is_generator(declared.call):
            return super().get_route_handler()
        holder.dependant = _without_guards(declared, [name for name, _ in guards], kept)
        try:
            handler = super().get_route_handler()
        finally:
            holder.dependant = declared
        resolvers = [guard for _, guard in guards]

        async def guarded(request: Request) -> Response:
            request.scope[_GUARD_VALUES_KEY] = [await resolve(request) for resolve in resolvers]
            return await handler(request)

        return guarded


def _is_generator(call: Any) -> bool:
    return inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call)


def _without_guards(
    declared: Dependant, names: list[str | None], kept: list[Dependant]
) -> Dependant:
    """A copy of ``declared`` with only the ``kept`` dependencies, whose call receives the guards'
    values (for the parameters ``names``) from the request."""
    endpoint = declared.call
    assert endpoint is not None
    request_param = declared.request_param_name or _HOISTED_REQUEST_PARAM
    keep_request = declared.request_param_name is not None

    def with_guard_values(values: dict[str, Any]) -> dict[str, Any]:
        request = values[request_param] if keep_request else values.pop(request_param)
        for name, value in zip(names, request.scope.pop(_GUARD_VALUES_KEY), strict=True):
            if name is not None:
                values[name] = value
        return values

    call: Callable[..., Any]
    if inspect.iscoroutinefunction(endpoint):

        async def call_async(**values: Any) -> Any:
            return await endpoint(**with_guard_values(values))

        call = call_async
    else:
        # FastAPI runs a plain function in its thread pool; the wrapper must stay one.
        def call_sync(**values: Any) -> Any:
            return endpoint(**with_guard_values(values))

        call = call_sync
    return dataclasses.replace(
        declared,
        dependencies=kept,
        call=call,
        request_param_name=request_param,
    )
