"""Every route declares who may call it: a permission, platform admin, any signed-in caller, or public."""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant

from aiaas.app import create_app
from aiaas.kit.routing import GuardedRoute
from aiaas.tenancy.dependencies import authenticate
from tests.conftest import make_settings
from tests.routing import api_routes


def _declares(dependant: Dependant) -> bool:
    call: Any = dependant.call
    if call is authenticate or getattr(call, "required_permissions", None):
        return True
    return any(_declares(sub) for sub in dependant.dependencies)


def test_every_route_declares_its_access(tmp_path: Any) -> None:
    app = create_app(make_settings(tmp_path))
    undeclared = []
    routes = list(api_routes(app))
    assert len(routes) > 20
    for route in routes:
        if getattr(route.endpoint, "public_route", False):
            continue
        if not _declares(route.dependant):
            undeclared.append(f"{sorted(route.methods)} {route.path}")
    assert not undeclared, f"routes without an access declaration: {undeclared}"


def test_every_api_route_runs_its_guards_before_dependency_injection(tmp_path: Any) -> None:
    # A domain router created without route_class=GuardedRoute still works, but resolves the
    # caller through FastAPI's dependency levels on every request.
    app = create_app(make_settings(tmp_path))
    routes = [route for route in api_routes(app) if route.path.startswith(("/api/", "/v1/"))]
    assert len(routes) > 20
    plain = [
        f"{sorted(route.methods)} {route.path}"
        for route in routes
        if not isinstance(route.route, GuardedRoute)
    ]
    assert not plain, f"routes not built as GuardedRoute: {plain}"


def test_openapi_documents_the_api(tmp_path: Any) -> None:
    schema = create_app(make_settings(tmp_path)).openapi()
    assert (
        "/api/v1/auth/login" in schema["paths"] and "/api/v1/api-keys/{key_id}" in schema["paths"]
    )
