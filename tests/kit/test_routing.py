"""Path-gated routers: the same routing and OpenAPI as plain includes, without scanning every route."""

from __future__ import annotations

from pathlib import Path

import fastapi.routing as fastapi_routing
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match
from starlette.types import Scope

from aiaas.kit.routing import (
    PathGatedRouter,
    StaticRouteIndex,
    build_static_index,
    include_gated,
    install_static_route_index,
)


def _app() -> FastAPI:
    app = FastAPI()
    users = APIRouter(prefix="/users", tags=["users"])
    orders = APIRouter(prefix="/orders", tags=["orders"])

    @users.get("/{user_id}")
    async def get_user(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    @orders.get("")
    async def list_orders() -> list[str]:
        return ["o1"]

    @orders.post("/{order_id}/cancel")
    async def cancel(order_id: str) -> dict[str, str]:
        return {"cancelled": order_id}

    for router in (users, orders):
        include_gated(app.router, router, prefix="/api")
    return app


def test_routes_match_through_their_gate() -> None:
    client = TestClient(_app())
    assert client.get("/api/users/7").json() == {"user": 7}
    assert client.get("/api/orders").json() == ["o1"]
    assert client.post("/api/orders/a1/cancel").json() == {"cancelled": "a1"}


def test_misses_and_wrong_methods_behave_as_without_gates() -> None:
    client = TestClient(_app())
    assert client.get("/api/customers").status_code == 404
    assert client.get("/api/users/not-a-number").status_code == 422
    assert client.get("/api/orders/a1/cancel").status_code == 405


def test_openapi_keeps_paths_tags_and_the_prefix() -> None:
    schema = _app().openapi()
    assert set(schema["paths"]) == {
        "/api/users/{user_id}",
        "/api/orders",
        "/api/orders/{order_id}/cancel",
    }
    assert schema["paths"]["/api/users/{user_id}"]["get"]["tags"] == ["users"]


def _scope(path: str, root_path: str = "") -> Scope:
    return {"type": "http", "method": "GET", "path": path, "root_path": root_path, "headers": []}


def test_the_gate_declines_paths_outside_its_prefix_without_trying_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[str] = []

    def full_match(self: APIRouter, scope: Scope) -> tuple[Match, Scope]:
        tried.append(scope["path"])
        return Match.NONE, {}

    monkeypatch.setattr(APIRouter, "matches", full_match)
    gate = PathGatedRouter("/api/users")
    assert gate.matches(_scope("/api/orders/1")) == (Match.NONE, {})
    assert tried == []
    gate.matches(_scope("/api/users/1"))
    # Behind a proxy's root_path the gate cannot judge the raw path, so the full match decides.
    gate.matches(_scope("/prefix/api/orders/1", root_path="/prefix"))
    assert tried == ["/api/users/1", "/prefix/api/orders/1"]


# ---- the static route index ------------------------------------------------------------------


def _indexed_app() -> tuple[FastAPI, list[str]]:
    """Routes laid out to catch an index that changes which route answers."""
    app = FastAPI()
    calls: list[str] = []

    async def mark() -> None:
        calls.append("router dependency")

    items = APIRouter(prefix="/items", dependencies=[Depends(mark)])
    more_items = APIRouter(prefix="/items")
    accounts = APIRouter(prefix="/accounts")

    @items.get("")
    async def list_items() -> list[str]:
        return ["i1"]

    @items.get("/{item_id}")
    async def get_item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    @items.get("/me")  # after /{item_id}: never reached, with or without the index
    async def my_items() -> dict[str, str]:
        return {"item": "mine"}

    @more_items.post("")
    async def create_item() -> dict[str, str]:
        return {"created": "yes"}

    @accounts.get("/current")
    async def current_account() -> dict[str, str]:
        return {"account": "current"}

    for router in (items, more_items, accounts):
        include_gated(app.router, router, prefix="/api")
    install_static_route_index(app.router)
    return app, calls


def _fastapi_choice(app: FastAPI, path: str, method: str) -> object | None:
    """The route FastAPI's own matching selects (the index left out)."""
    scope: Scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
    for route in app.router.routes:
        if isinstance(route, StaticRouteIndex):
            continue
        match, _ = route.matches(scope)
        if match == Match.FULL:
            if isinstance(route, fastapi_routing._IncludedRouter):
                return route._match(scope)[2]
            return route
    return None


def test_the_index_answers_like_fastapi() -> None:
    app, calls = _indexed_app()
    client = TestClient(app)
    assert client.get("/api/items").json() == ["i1"]
    assert calls == ["router dependency"]  # the inclusion's dependencies still run
    assert client.post("/api/items").json() == {"created": "yes"}
    assert client.get("/api/items/me").json() == {"item": "me"}  # the earlier pattern wins
    assert client.get("/api/accounts/current").json() == {"account": "current"}
    assert client.delete("/api/accounts/current").status_code == 405
    assert client.get("/api/accounts/other").status_code == 404


def test_the_index_leaves_out_paths_an_earlier_route_could_take() -> None:
    app, _ = _indexed_app()
    index = build_static_index(app.router)
    assert set(index) == {"/api/items", "/api/accounts/current"}
    assert [sorted(entry.methods) for entry in index["/api/items"]] == [["GET"], ["POST"]]


def test_the_index_declines_what_it_cannot_judge() -> None:
    app, _ = _indexed_app()
    index = next(route for route in app.router.routes if isinstance(route, StaticRouteIndex))
    get = {"type": "http", "method": "GET", "root_path": "", "headers": []}
    assert index.matches({**get, "path": "/api/accounts/current"})[0] == Match.FULL
    assert index.matches({**get, "path": "/api/items/7"})[0] == Match.NONE  # parameters
    assert index.matches({**get, "method": "PUT", "path": "/api/items"})[0] == Match.NONE
    behind_proxy = {**get, "path": "/p/api/accounts/current", "root_path": "/p"}
    assert index.matches(behind_proxy)[0] == Match.NONE
    websocket = {"type": "websocket", "path": "/api/accounts/current", "headers": []}
    assert index.matches(websocket)[0] == Match.NONE


def test_every_indexed_route_of_the_platform_is_the_one_fastapi_would_choose(
    tmp_path: Path,
) -> None:
    from aiaas.app import create_app
    from aiaas.config import Settings

    app = create_app(Settings(data_dir=tmp_path))
    index = build_static_index(app.router)
    assert "/api/v1/auth/me" in index and "/v1/chat/completions" in index
    for path, entries in index.items():
        for entry in entries:
            for method in entry.methods:
                assert _fastapi_choice(app, path, method) is entry.context.original_route, (
                    method,
                    path,
                )
