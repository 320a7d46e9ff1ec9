"""Path-gated routers: the same routing and OpenAPI as plain includes, without scanning every route."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match
from starlette.types import Scope

from aiaas.kit.routing import PathGatedRouter, include_gated


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
