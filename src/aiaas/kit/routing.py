"""Route matching that stays cheap as the API grows.

FastAPI matches a request against an included router by trying each of its routes in turn, and it
does so for every included router until one matches. With every domain under one prefix, a request
for the last domain paid for a regex match of every route before it. A path gate answers "no" for a
whole router with one string comparison when the request path cannot be under its prefix.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


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
