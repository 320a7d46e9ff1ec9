"""Every error renders as RFC 9457 problem+json with a stable code and the request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from aiaas.backends.telemetry import configure_logging
from aiaas.config import Settings
from aiaas.gateway.errors import INTERNAL_ERROR_DETAIL, install_error_handlers, problem_response
from aiaas.gateway.middleware import FASTAPI_NATIVE_TELEMETRY_OFF, install_middleware
from aiaas.kit.context import RequestContext, reset_context
from aiaas.kit.errors import (
    PROBLEM_JSON,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)

SECRET_INPUT = "hunter2-very-secret"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "instance", "request_id"}


class Signup(BaseModel):
    email: str = Field(pattern=r"^[^@]+@[^@]+$")
    password: str = Field(min_length=32)
    seats: int = Field(ge=1)


def build_app(*, with_middleware: bool = True) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, telemetry=FASTAPI_NATIVE_TELEMETRY_OFF)

    @app.get("/domain/{kind}")
    async def domain_error(kind: str) -> None:
        errors = {
            "not_found": NotFound("No conversation with that id."),
            "conflict": Conflict("Slug already taken.", code="slug_taken"),
            "unauthorized": Unauthorized("Missing credentials."),
            "rate_limited": RateLimited(
                "Slow down.", headers={"Retry-After": "7"}, extra={"limit": 60}
            ),
            "unavailable": ServiceUnavailable("The model endpoint is down."),
        }
        raise errors[kind]

    @app.post("/signup")
    async def signup(body: Signup) -> dict[str, str]:
        return {"email": body.email}

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/http/{status}")
    async def http_error(status: int) -> None:
        if status == 418:
            raise HTTPException(418, detail={"reason": "teapot"})
        raise HTTPException(status, detail="Custom words.", headers={"X-Extra": "1"})

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError(f"database password is {SECRET_INPUT}")

    install_error_handlers(app)
    if with_middleware:
        settings = Settings(_env_file=None, env="test")
        install_middleware(app, settings)
    return app


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None).telemetry, stream=stream)
    yield stream
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is stream:
            root.removeHandler(handler)


@pytest.fixture
async def client(log_stream: io.StringIO) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code.replace("_", "-"))
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


# ---- domain errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("not_found", 404, "not_found"),
        ("conflict", 409, "slug_taken"),
        ("unauthorized", 401, "unauthorized"),
        ("rate_limited", 429, "rate_limited"),
        ("unavailable", 503, "service_unavailable"),
    ],
)
async def test_app_errors_render_their_status_and_code(
    client: httpx.AsyncClient, kind: str, status: int, code: str
) -> None:
    assert_problem(await client.get(f"/domain/{kind}"), status, code)


async def test_app_error_keeps_headers_and_extension_members(client: httpx.AsyncClient) -> None:
    response = await client.get("/domain/rate_limited")
    body = assert_problem(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "7"
    assert body["limit"] == 60
    assert body["detail"] == "Slow down."
    unauthorized = await client.get("/domain/unauthorized")
    assert unauthorized.headers["www-authenticate"] == "Bearer"


async def test_given_request_id_is_in_the_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/domain/not_found", headers={"X-Request-ID": "trace-me-1"})
    assert response.json()["request_id"] == "trace-me-1"


# ---- validation -------------------------------------------------------------------------------
async def test_validation_error_lists_fields_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/signup", json={"email": SECRET_INPUT, "password": SECRET_INPUT, "seats": 0}
    )
    body = assert_problem(response, 422, "validation_failed")
    assert SECRET_INPUT not in response.text
    locations = {tuple(error["loc"]) for error in body["errors"]}
    assert locations == {("body", "email"), ("body", "password"), ("body", "seats")}
    for error in body["errors"]:
        assert set(error) == {"loc", "msg", "type"}
    types = {tuple(e["loc"]): e["type"] for e in body["errors"]}
    assert types[("body", "password")] == "string_too_short"
    assert "body.password" in body["detail"]


async def test_missing_field_points_at_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/signup", json={"email": "a@b", "seats": 1})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [
        {"loc": ["body", "password"], "msg": "Field required", "type": "missing"}
    ]


async def test_malformed_json_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/signup",
        content=b'{"password": "' + SECRET_INPUT.encode(),
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["type"] == "json_invalid"
    assert SECRET_INPUT not in response.text


async def test_path_parameter_validation(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/items/abc"), 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["path", "item_id"]


# ---- framework HTTP errors --------------------------------------------------------------------
async def test_unknown_route_is_not_found(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/no/such/thing"), 404, "not_found")
    assert "/no/such/thing" in body["detail"]


async def test_wrong_method_is_method_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.delete("/signup")
    body = assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert "DELETE" in body["detail"]


async def test_http_exception_keeps_detail_and_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/http/409")
    body = assert_problem(response, 409, "conflict")
    assert body["detail"] == "Custom words."
    assert response.headers["x-extra"] == "1"


async def test_http_exception_with_structured_detail(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/http/418"), 418, "client_error")
    assert body["data"] == {"reason": "teapot"}
    assert body["title"] == "I'm a teapot"


# ---- unhandled exceptions ---------------------------------------------------------------------
async def test_unhandled_exception_is_a_generic_500_and_logged(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    response = await client.get("/crash", headers={"X-Request-ID": "crash-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body["detail"] == INTERNAL_ERROR_DETAIL
    assert SECRET_INPUT not in response.text
    assert "RuntimeError" not in response.text

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    logged = [line for line in lines if line["event"] == "unhandled_exception"]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "crash-1"
    assert logged[0]["level"] == "error"
    assert "Traceback" in logged[0]["exception"]
    assert "RuntimeError" in logged[0]["exception"]
    access = [line for line in lines if line["event"] == "http_request"]
    assert access[-1]["status"] == 500


async def test_unhandled_exception_without_the_middleware(log_stream: io.StringIO) -> None:
    """The handlers alone (no gateway middleware) still answer problem+json."""
    transport = httpx.ASGITransport(
        app=build_app(with_middleware=False), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/crash")
        not_found = await http.get("/domain/not_found")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "internal_error"
    assert SECRET_INPUT not in response.text
    assert not_found.json()["code"] == "not_found"
    assert "request_id" not in not_found.json()  # no middleware, no request id


# ---- helper -----------------------------------------------------------------------------------
def test_problem_response_takes_the_current_request_id() -> None:
    reset_context(RequestContext(request_id="ctx-42"))
    try:
        response = problem_response(
            413,
            PayloadTooLarge.code,
            "Too big.",
            instance="/upload",
            headers={"Retry-After": "1"},
            extra={"limit": 10},
        )
    finally:
        reset_context()
    assert response.status_code == 413
    assert response.media_type == PROBLEM_JSON
    assert response.headers["retry-after"] == "1"
    assert json.loads(bytes(response.body)) == {
        "type": "https://aiaas.dev/problems/payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "detail": "Too big.",
        "code": "payload_too_large",
        "instance": "/upload",
        "request_id": "ctx-42",
        "limit": 10,
    }
