"""create_app(settings): the FastAPI application. The lifespan builds the backends and hands them on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from aiaas import __version__
from aiaas.api import include_api
from aiaas.backends.telemetry import (
    configure_logging,
    configure_tracing,
    instrument_database,
    shutdown_tracing,
)
from aiaas.chat.routes import outside_api as chat_outside_api
from aiaas.config import Settings, load_settings
from aiaas.gateway.docs import install_docs
from aiaas.gateway.errors import install_error_handlers
from aiaas.gateway.metrics import metrics_endpoint
from aiaas.gateway.middleware import FASTAPI_NATIVE_TELEMETRY_OFF, install_middleware
from aiaas.kit.errors import NotFound
from aiaas.kit.heap import settle_heap
from aiaas.kit.routing import include_gated, install_static_route_index
from aiaas.platform import Platform, build_platform
from aiaas.tenancy.dependencies import public

STATIC_DIR = Path(__file__).parent / "static"
API_PATHS = (
    "api/",
    "v1/",
    "ws/",
    "demo-store",
    "metrics",
    "healthz",
    "readyz",
    "docs",
    "openapi.json",
)
READY_TIMEOUT_SECONDS = 2.0


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    """The HTTP application. Pass ``platform`` to share already-built backends (tests, benchmarks)."""
    settings = settings or load_settings()
    configure_logging(settings.telemetry)
    tracer_provider = configure_tracing(settings.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = platform is None
        running = platform or build_platform(settings)
        instrument_database(running.db.engine, tracer_provider)
        app.state.platform = running
        if own:
            await running.start(events=settings.run_events_in_process)
        settle_heap(settings.gc_young_threshold)
        try:
            yield
        finally:
            if own:
                await running.stop()
            shutdown_tracing(tracer_provider)

    app = FastAPI(
        title="aiaas",
        version=__version__,
        description="Multi-tenant AI customer-support platform API.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
    )
    install_error_handlers(app)
    # Routes are matched in order; the probes come first so they stay cheap under load.
    _install_probes(app)
    install_docs(app)
    include_api(app.router)
    for router in chat_outside_api:
        include_gated(app.router, router)
    _install_demo_store(app, settings)
    _install_web(app)
    install_static_route_index(app.router)
    install_middleware(app, settings, tracer_provider=tracer_provider)
    return app


def _install_probes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], include_in_schema=True)
    @public
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    @public
    async def readyz() -> JSONResponse:
        """Readiness: the database, and Redis and NATS when configured, answer in time."""
        running: Platform = app.state.platform
        checks = {"database": running.db.ping(READY_TIMEOUT_SECONDS)}
        if running.cache.kind == "redis":
            checks["redis"] = running.cache.ping()
        if running.bus.kind == "nats":
            checks["nats"] = running.bus.ping()
        results = await asyncio.gather(
            *(asyncio.wait_for(check, READY_TIMEOUT_SECONDS) for check in checks.values()),
            return_exceptions=True,
        )
        report = {
            name: "ok"
            if not isinstance(result, BaseException)
            else f"error: {type(result).__name__}"
            for name, result in zip(checks, results, strict=True)
        }
        ready = all(value == "ok" for value in report.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": report},
            status_code=200 if ready else 503,
        )

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)


def _install_demo_store(app: FastAPI, settings: Settings) -> None:
    """The demo store's HTTP API (the demo tenant's tools call it in process), also under /demo-store."""
    if not settings.orchestrator.tools.demo_store:
        return

    async def demo_store(scope: Scope, receive: Receive, send: Send) -> None:
        # The running platform's own store, so what the browser shows is what the tools changed.
        store = app.state.platform.orchestrator.demo_store
        if store is None:
            raise NotFound("the demo store is off", code="route_not_found")
        await store.app(scope, receive, send)

    app.mount("/demo-store", demo_store, name="demo-store")


def _install_web(app: FastAPI) -> None:
    """Serve the built dashboard (web/dist copied into the package) at /, with SPA fallback."""
    index = STATIC_DIR / "index.html"
    if not index.exists():

        @app.get("/", include_in_schema=False)
        @public
        async def root() -> dict[str, str]:
            return {"name": "aiaas", "docs": "/docs", "dashboard": "not built: run `make web`"}

        return
    if (STATIC_DIR / "assets").exists():
        app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    @public
    async def spa(path: str) -> FileResponse:
        if path.startswith(API_PATHS):
            raise NotFound(f"no route for /{path}", code="route_not_found")
        candidate = (STATIC_DIR / path).resolve()
        if path and candidate.is_file() and STATIC_DIR.resolve() in candidate.parents:
            return FileResponse(candidate)
        return FileResponse(index)
