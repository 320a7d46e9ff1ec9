"""The gateway middleware: request id, context, metrics, access log, security headers, CORS,
body limits and the offline API docs."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import REGISTRY
from pydantic import BaseModel
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from aiaas.backends.telemetry import configure_logging
from aiaas.config import Settings
from aiaas.gateway.docs import DOCS_CONTENT_SECURITY_POLICY, install_docs
from aiaas.gateway.errors import install_error_handlers
from aiaas.gateway.metrics import (
    UNMATCHED_ROUTE,
    install_metrics_endpoint,
    record_rate_limit_rejection,
)
from aiaas.gateway.middleware import (
    API_CONTENT_SECURITY_POLICY,
    CONTENT_SECURITY_POLICY,
    FASTAPI_NATIVE_TELEMETRY_OFF,
    HSTS_VALUE,
    BodyLimitMiddleware,
    install_middleware,
)
from aiaas.kit.context import RequestContext, current_context

SMALL_LIMIT = 1024
UPLOAD_LIMIT = 4096
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class Echo(BaseModel):
    text: str


def make_settings(**gateway: Any) -> Settings:
    values: dict[str, Any] = {"max_body_bytes": SMALL_LIMIT, "max_upload_bytes": UPLOAD_LIMIT}
    values.update(gateway)
    return Settings(_env_file=None, env="test", gateway=values)


def build_app(settings: Settings, calls: list[str] | None = None) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, telemetry=FASTAPI_NATIVE_TELEMETRY_OFF)
    seen = calls if calls is not None else []

    @app.get("/api/v1/tenants/{slug}/users/{user_id}")
    async def get_user(slug: str, user_id: int, request: Request) -> dict[str, Any]:
        request.state.tenant_slug = slug
        return {"user_id": user_id}

    @app.get("/context")
    async def context() -> dict[str, Any]:
        ctx = current_context()
        in_flight = REGISTRY.get_sample_value("aiaas_http_requests_in_flight")
        return {
            "request_id": ctx.request_id,
            "trace_id": ctx.trace_id,
            "client_ip": ctx.client_ip,
            "in_flight": in_flight,
        }

    @app.post("/echo")
    async def echo(body: Echo) -> Echo:
        seen.append("echo")
        return body

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        seen.append("raw")
        return {"size": len(await request.body())}

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>page</title>")

    @app.get("/own-csp")
    async def own_csp() -> JSONResponse:
        return JSONResponse({}, headers={"Content-Security-Policy": "default-src 'none'"})

    @app.get("/stream-fails")
    async def stream_fails() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("broke mid-stream")

        return StreamingResponse(chunks())

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"request_id": current_context().request_id})
        await websocket.close()

    install_metrics_endpoint(app)
    install_docs(app)
    install_error_handlers(app)
    install_middleware(app, settings)
    return app


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(make_settings().telemetry, stream=stream)
    yield stream
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is stream:
            root.removeHandler(handler)


def client_for(app: ASGIApp, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, **kwargs)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(log_stream: io.StringIO) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_app(make_settings())) as http:
        yield http


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- request id and context -------------------------------------------------------------------
async def test_sane_request_id_is_kept_and_bound(client: httpx.AsyncClient) -> None:
    response = await client.get("/context", headers={"X-Request-ID": "req.ABC_123-x"})
    assert response.headers["x-request-id"] == "req.ABC_123-x"
    assert response.json()["request_id"] == "req.ABC_123-x"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/context")
    request_id = response.headers["x-request-id"]
    assert HEX_ID.match(request_id)
    assert response.json()["request_id"] == request_id


@pytest.mark.parametrize(
    "given", ["x" * 129, "has space", "semi;colon", "<script>", "", "ünïcode", "a/b"]
)
async def test_insane_request_id_is_replaced(client: httpx.AsyncClient, given: str) -> None:
    headers = [(b"X-Request-ID", given.encode("latin-1"))]
    response = await client.get("/context", headers=headers)
    assert response.headers["x-request-id"] != given
    assert HEX_ID.match(response.headers["x-request-id"])


async def test_longest_sane_request_id_is_kept(client: httpx.AsyncClient) -> None:
    given = "a" * 128
    response = await client.get("/context", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] == given


async def test_context_carries_a_trace_id_and_is_reset_after(client: httpx.AsyncClient) -> None:
    before = current_context()
    body = (await client.get("/context")).json()
    assert body["trace_id"] is None or re.match(r"^[0-9a-f]{32}$", body["trace_id"])
    assert current_context() == before == RequestContext()


async def test_in_flight_gauge_counts_the_running_request(client: httpx.AsyncClient) -> None:
    before = sample("aiaas_http_requests_in_flight")
    body = (await client.get("/context")).json()
    assert body["in_flight"] >= before + 1
    assert sample("aiaas_http_requests_in_flight") == before


async def test_client_ip_ignores_forwarded_for_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/context", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.json()["client_ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.7, 10.0.0.1", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-address, 10.0.0.1", "127.0.0.1"),
    ],
)
async def test_client_ip_takes_first_forwarded_hop_when_trusted(
    log_stream: io.StringIO, forwarded: str, expected: str
) -> None:
    async with client_for(build_app(make_settings(trust_forwarded_for=True))) as http:
        response = await http.get("/context", headers={"X-Forwarded-For": forwarded})
    assert response.json()["client_ip"] == expected


def test_websocket_gets_a_request_context(log_stream: io.StringIO) -> None:
    app = build_app(make_settings())
    with (
        TestClient(app) as http,
        http.websocket_connect("/ws", headers={"X-Request-ID": "ws-1"}) as socket,
    ):
        assert socket.receive_json() == {"request_id": "ws-1"}


# ---- metrics ----------------------------------------------------------------------------------
async def test_metrics_use_route_template_tenant_and_status(client: httpx.AsyncClient) -> None:
    tenant = "t" + secrets.token_hex(4)
    template = "/api/v1/tenants/{slug}/users/{user_id}"
    for user_id in (1, 2):
        assert (await client.get(f"/api/v1/tenants/{tenant}/users/{user_id}")).status_code == 200
    await client.get(f"/api/v1/tenants/{tenant}/users/not-a-number")

    labels = {"method": "GET", "route": template, "tenant": tenant}
    assert sample("aiaas_http_requests_total", status="200", **labels) == 2
    assert sample("aiaas_http_request_duration_seconds_count", **labels) >= 2
    # The 422 answered before the handler named the tenant.
    assert (
        sample("aiaas_http_requests_total", method="GET", route=template, status="422", tenant="-")
        >= 1
    )
    raw_routes = {
        s.labels.get("route")
        for metric in REGISTRY.collect()
        if metric.name.startswith("aiaas_http_request")
        for s in metric.samples
    }
    assert not any(route and tenant in route for route in raw_routes)


async def test_route_labels_for_plain_routes_and_mounts(
    log_stream: io.StringIO, tmp_path: Path
) -> None:
    (tmp_path / "app.js").write_text("console.log(1)")

    async def plain(request: Request) -> JSONResponse:
        return JSONResponse({})

    sub = FastAPI(telemetry=FASTAPI_NATIVE_TELEMETRY_OFF)

    @sub.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app = build_app(make_settings())
    app.add_route("/plain/{name}", plain)
    app.mount("/static", StaticFiles(directory=tmp_path))
    app.mount("/sub", sub)
    async with client_for(app) as http:
        for path in ("/docs", "/plain/xyz", "/static/app.js", "/sub/items/9", "/metrics"):
            assert (await http.get(path)).status_code == 200, path
    routes = {
        s.labels["route"]
        for metric in REGISTRY.collect()
        if metric.name == "aiaas_http_requests"
        for s in metric.samples
    }
    assert {"/docs", "<plain>", "/static/{path}", "/sub/items/{item_id}", "/metrics"} <= routes
    assert not {"/plain/xyz", "/static/app.js", "/sub/items/9"} & routes


async def test_unknown_paths_share_one_route_label(client: httpx.AsyncClient) -> None:
    labels = {"method": "GET", "route": UNMATCHED_ROUTE, "status": "404", "tenant": "-"}
    before = sample("aiaas_http_requests_total", **labels)
    for _ in range(3):
        await client.get(f"/nothing/{secrets.token_hex(4)}")
    assert sample("aiaas_http_requests_total", **labels) == before + 3


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    labels = {"method": "_OTHER", "route": "/context", "status": "405", "tenant": "-"}
    before = sample("aiaas_http_requests_total", **labels)
    await client.request("BREW", "/context")
    assert sample("aiaas_http_requests_total", **labels) == before + 1


async def test_metrics_endpoint_serves_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/context")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "aiaas_http_requests_total{" in response.text
    assert "aiaas_http_request_duration_seconds_bucket{" in response.text
    assert 'le="0.001"' in response.text
    assert 'le="10.0"' in response.text

    openmetrics = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_rate_limit_rejections_are_counted() -> None:
    tenant = "t" + secrets.token_hex(4)
    record_rate_limit_rejection(tenant, "api_key")
    record_rate_limit_rejection(tenant, "api_key")
    record_rate_limit_rejection(None, "login")
    assert sample("aiaas_rate_limit_rejections_total", tenant=tenant, scope="api_key") == 2
    assert sample("aiaas_rate_limit_rejections_total", tenant="-", scope="login") >= 1


# ---- access log -------------------------------------------------------------------------------
async def test_access_log_is_one_json_line_per_request(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    tenant = "t" + secrets.token_hex(4)
    response = await client.get(
        f"/api/v1/tenants/{tenant}/users/7?secret=1", headers={"X-Request-ID": "log-me"}
    )
    lines = [line for line in log_lines(log_stream) if line.get("request_id") == "log-me"]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "http_request"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/tenants/{slug}/users/{user_id}"
    assert line["path"] == f"/api/v1/tenants/{tenant}/users/7"  # no query string
    assert line["status"] == response.status_code == 200
    assert line["tenant"] == tenant
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["timestamp"].endswith("Z")


async def test_probe_paths_are_logged_only_when_failing(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    await client.get("/metrics", headers={"X-Request-ID": "quiet-probe"})
    assert not [line for line in log_lines(log_stream) if line.get("request_id") == "quiet-probe"]


async def test_error_after_response_started_is_logged_and_reraised(
    log_stream: io.StringIO,
) -> None:
    app = build_app(make_settings())
    async with client_for(app) as http:
        with pytest.raises(RuntimeError, match="broke mid-stream"):
            await http.get("/stream-fails", headers={"X-Request-ID": "aborted"})
    events = {
        line["event"] for line in log_lines(log_stream) if line.get("request_id") == "aborted"
    }
    assert events == {"response_aborted", "http_request"}


# ---- security headers -------------------------------------------------------------------------
DOCUMENT_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cross-origin-opener-policy": "same-origin",
}
API_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": API_CONTENT_SECURITY_POLICY,
}


@pytest.mark.parametrize("path", ["/context", "/missing", "/api/v1/tenants/a/users/x"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert not response.headers["content-type"].startswith("text/html")
    for name, value in API_SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    # page-only policies: a JSON body is no page
    for name in ("referrer-policy", "cross-origin-opener-policy", "permissions-policy"):
        assert name not in response.headers
    assert "strict-transport-security" not in response.headers


async def test_a_page_gets_the_document_policies(client: httpx.AsyncClient) -> None:
    response = await client.get("/page")
    assert response.headers["content-type"].startswith("text/html")
    for name, value in DOCUMENT_SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert "camera=()" in response.headers["permissions-policy"]


def test_the_api_policy_loads_nothing_and_forbids_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in API_CONTENT_SECURITY_POLICY.split(";"))
    assert directives == {"default-src": "'none'", "frame-ancestors": "'none'"}


def test_csp_allows_only_this_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


async def test_hsts_only_when_enabled(log_stream: io.StringIO) -> None:
    async with client_for(build_app(make_settings(hsts=True))) as http:
        response = await http.get("/context")
    assert response.headers["strict-transport-security"] == HSTS_VALUE


async def test_a_response_may_set_its_own_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/own-csp")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert response.headers["x-frame-options"] == "DENY"


# ---- CORS -------------------------------------------------------------------------------------
ORIGIN = "https://app.example.com"


@pytest.fixture
async def cors_client(log_stream: io.StringIO) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_app(make_settings(cors_origins=[ORIGIN]))) as http:
        yield http


async def test_cors_preflight_from_allowed_origin(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(
        "/echo",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers
    assert HEX_ID.match(response.headers["x-request-id"])
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_cors_preflight_from_other_origin_is_refused(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(
        "/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "cors_rejected"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "access-control-allow-origin" not in response.headers


async def test_cors_simple_response_exposes_gateway_headers(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.get("/context", headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-request-id", "retry-after", "ratelimit-remaining", "ratelimit-reset"} <= exposed


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/echo", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


# ---- body limits ------------------------------------------------------------------------------
async def test_declared_length_over_limit_is_refused_before_the_app(
    log_stream: io.StringIO,
) -> None:
    calls: list[str] = []
    async with client_for(build_app(make_settings(), calls)) as http:
        response = await http.post(
            "/echo",
            content=json.dumps({"text": "x" * SMALL_LIMIT}),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["request_id"] == response.headers["x-request-id"]
    assert str(SMALL_LIMIT) in body["detail"]
    assert response.headers["x-frame-options"] == "DENY"
    assert calls == []


async def test_body_within_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"text": "hello"})
    assert response.status_code == 200
    assert response.json() == {"text": "hello"}


async def chunked(total: int, size: int = 256) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"a" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("path", ["/raw", "/echo"])
async def test_streamed_body_over_limit_is_refused(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=chunked(SMALL_LIMIT * 3), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_streamed_body_within_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/raw", content=chunked(SMALL_LIMIT))
    assert response.status_code == 200
    assert response.json() == {"size": SMALL_LIMIT}


@pytest.mark.parametrize(("size", "status"), [(UPLOAD_LIMIT - 100, 200), (UPLOAD_LIMIT + 1, 413)])
async def test_multipart_uploads_get_the_upload_limit(
    client: httpx.AsyncClient, size: int, status: int
) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    declared = await client.post("/raw", content=b"a" * size, headers=headers)
    streamed = await client.post("/raw", content=chunked(size), headers=headers)
    assert declared.status_code == streamed.status_code == status


async def test_streamed_limit_without_exception_handlers() -> None:
    """A bare ASGI app that reads past the limit still gets a problem+json 413."""
    received: list[int] = []

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    app = BodyLimitMiddleware(reader, max_body_bytes=SMALL_LIMIT, max_upload_bytes=UPLOAD_LIMIT)
    async with client_for(app) as http:
        response = await http.post("/anything", content=chunked(SMALL_LIMIT * 2))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert sum(received) <= SMALL_LIMIT + 256


async def test_malformed_content_length_is_a_bad_request() -> None:
    sent: list[Message] = []

    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not run")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    app = BodyLimitMiddleware(never, max_body_bytes=SMALL_LIMIT, max_upload_bytes=UPLOAD_LIMIT)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [(b"content-length", b"12abc")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["code"] == "bad_request"


# ---- offline docs -----------------------------------------------------------------------------
async def test_docs_page_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY
    assert not re.search(r"https?://", page.text), "the page must not reach the internet"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts
    assert all('src="' in attrs and not body.strip() for attrs, body in scripts)

    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/docs/assets/swagger-ui-bundle.js" in urls
    assert "/docs/assets/swagger-ui.css" in urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    init = await client.get("/docs/swagger-init.js")
    assert init.headers["content-type"].startswith("text/javascript")
    assert '"url": "/openapi.json"' in init.text
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text


async def test_docs_csp_relaxes_styles_but_never_scripts() -> None:
    directives = dict(d.strip().split(" ", 1) for d in DOCS_CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" in directives["style-src"]
    assert "http" not in DOCS_CONTENT_SECURITY_POLICY


async def test_redoc_page_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/redoc")
    assert page.status_code == 200
    assert not re.search(r"https?://", page.text)
    assert 'spec-url="/openapi.json"' in page.text
    script = await client.get("/docs/assets/redoc.standalone.js")
    assert script.status_code == 200
    assert "Redoc" in script.text


def test_install_docs_refuses_an_app_with_cdn_docs() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        install_docs(FastAPI())


def test_warns_when_fastapi_would_trace_requests_twice(log_stream: io.StringIO) -> None:
    install_middleware(FastAPI(), make_settings())
    install_middleware(FastAPI(telemetry=FASTAPI_NATIVE_TELEMETRY_OFF), make_settings())
    events = [line["event"] for line in log_lines(log_stream)]
    assert events == ["fastapi_native_telemetry_on"]
