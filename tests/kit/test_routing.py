"""Path-gated routers: the same routing and OpenAPI as plain includes, without scanning every route."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import fastapi.routing as fastapi_routing
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import Scope
from tests.routing import api_routes

from aiaas.kit.routing import (
    GuardedRoute,
    PathGatedRouter,
    StaticRouteIndex,
    build_static_index,
    include_gated,
    install_static_route_index,
    request_guard,
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


# ---- guards run by the route ------------------------------------------------------------------


class _Thing(BaseModel):
    n: int


# Module level: this module's annotations are strings, which FastAPI resolves in its globals.
_events: list[str] = []


async def current_user(request: Request) -> str:
    _events.append("guard")
    user = request.headers.get("x-user")
    if user is None:
        raise HTTPException(401, "who are you?")
    return user


request_guard(current_user, current_user)
User = Annotated[str, Depends(current_user)]


async def other(request: Request) -> str:
    _events.append("other")
    return "other"


async def deeper(user: User) -> str:
    # reaches the guard through FastAPI: it gets the same value
    _events.append("deeper")
    return f"deeper-{user}"


Other = Annotated[str, Depends(other)]
Deeper = Annotated[str, Depends(deeper)]


def _guarded_app(events: list[str], *, gated: bool) -> FastAPI:
    global _events
    _events = events
    router = APIRouter(prefix="/things", route_class=GuardedRoute)

    @router.post("")
    async def create(thing: _Thing, extra: Other, user: User) -> dict[str, object]:
        return {"user": user, "n": thing.n, "extra": extra}

    @router.get("/sync")
    def sync_endpoint(user: User) -> dict[str, object]:
        return {"user": user, "worker_thread": threading.current_thread() is not main_thread}

    @router.get("/with-request/{item}")
    async def with_request(request: Request, item: int, user: User) -> dict[str, object]:
        return {"user": user, "path": request.url.path, "item": item}

    @router.get("/declared-only", dependencies=[Depends(current_user)])
    async def declared_only(via: Deeper) -> dict[str, str]:
        return {"via": via}

    @router.get("/stream")
    async def stream(user: User) -> AsyncIterator[str]:
        yield user

    app = FastAPI()
    if gated:
        include_gated(app.router, router, prefix="/api")
        install_static_route_index(app.router)
    else:
        app.include_router(router, prefix="/api")
    return app


main_thread = threading.main_thread()


@pytest.mark.parametrize("gated", [False, True])
def test_a_guard_runs_first_and_refuses_before_validation_and_other_dependencies(
    gated: bool,
) -> None:
    events: list[str] = []
    client = TestClient(_guarded_app(events, gated=gated))
    refused = client.post("/api/things", json={"n": "not a number"})
    assert refused.status_code == 401
    assert events == ["guard"]


@pytest.mark.parametrize("gated", [False, True])
def test_the_guard_value_reaches_the_endpoint(gated: bool) -> None:
    events: list[str] = []
    client = TestClient(_guarded_app(events, gated=gated))
    created = client.post("/api/things", json={"n": 3}, headers={"x-user": "ann"})
    assert created.json() == {"user": "ann", "n": 3, "extra": "other"}
    assert events == ["guard", "other"]
    assert client.get("/api/things/sync", headers={"x-user": "bo"}).json() == {
        "user": "bo",
        "worker_thread": True,
    }
    assert client.get("/api/things/with-request/5", headers={"x-user": "cy"}).json() == {
        "user": "cy",
        "path": "/api/things/with-request/5",
        "item": 5,
    }


def test_a_guard_declared_without_a_value_still_guards() -> None:
    events: list[str] = []
    client = TestClient(_guarded_app(events, gated=True))
    assert client.get("/api/things/declared-only").status_code == 401
    assert events == ["guard"]
    events.clear()
    answer = client.get("/api/things/declared-only", headers={"x-user": "di"})
    assert answer.json() == {"via": "deeper-di"}
    # the route ran the guard, then FastAPI ran it again for the dependency that needs its value
    assert events == ["guard", "guard", "deeper"]


def test_a_streaming_endpoint_keeps_the_guard_as_a_dependency() -> None:
    events: list[str] = []
    client = TestClient(_guarded_app(events, gated=False))
    assert client.get("/api/things/stream").status_code == 401
    assert client.get("/api/things/stream", headers={"x-user": "ed"}).status_code == 200


def test_the_declared_dependencies_stay_as_written() -> None:
    # OpenAPI and the platform's access-declaration test read the declared dependencies
    app = _guarded_app([], gated=True)
    declared = {
        (route.path, method): [sub.call.__name__ for sub in route.dependant.dependencies]
        for route in api_routes(app)
        for method in route.methods
    }
    assert declared[("/api/things", "POST")] == ["other", "current_user"]
    assert declared[("/api/things/declared-only", "GET")] == ["current_user", "deeper"]
