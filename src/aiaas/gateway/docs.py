"""API documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) that work offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which fails on a machine without
internet and needs a CSP that trusts that CDN. Here the assets come from the
``fastapi-offline`` wheel (Swagger UI 5, which renders OpenAPI 3.1, and ReDoc 2) and are served
from this origin; the pages carry no inline script, so their CSP only relaxes styles (both UIs
inject style elements) and allows data: images and a blob: worker (ReDoc's search).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import swagger_ui_default_parameters
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"

DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
}


def _swagger_page(title: str, assets: str, init_script: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{init_script}"></script>
</body>
</html>
"""


def _redoc_page(title: str, assets: str, openapi_url: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def _swagger_init_script(openapi_url: str, parameters: dict[str, Any]) -> str:
    config = {
        **swagger_ui_default_parameters,
        "validatorUrl": None,
        **parameters,
        "url": openapi_url,
    }
    # Presets are functions of the loaded bundle, so they are added in JavaScript.
    return (
        "window.ui = SwaggerUIBundle(Object.assign("
        + json.dumps(config)
        + ", {presets: [SwaggerUIBundle.presets.apis,"
        + " SwaggerUIBundle.SwaggerUIStandalonePreset]}));\n"
    )


def install_docs(
    app: FastAPI,
    *,
    docs_url: str = "/docs",
    redoc_url: str | None = "/redoc",
    assets_url: str = "/docs/assets",
) -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` from local assets.

    Create the app with ``FastAPI(docs_url=None, redoc_url=None)`` so that FastAPI does not
    register its CDN-based pages first.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None to use install_docs")
    if app.openapi_url is None:
        raise ValueError("the app has no OpenAPI schema (openapi_url=None)")
    openapi_url = app.openapi_url
    init_url = docs_url.rstrip("/") + "/swagger-init.js"
    swagger_parameters = dict(app.swagger_ui_parameters or {})

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    async def swagger_ui(request: Request) -> Response:
        prefix = root(request)
        page = _swagger_page(f"{app.title} - API", prefix + assets_url, prefix + init_url)
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def swagger_init(request: Request) -> Response:
        script = _swagger_init_script(root(request) + openapi_url, swagger_parameters)
        return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    app.mount(assets_url, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    # Plain routes, as FastAPI adds its own docs pages: public, outside the schema.
    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    app.add_route(init_url, swagger_init, include_in_schema=False)

    if redoc_url is not None:

        async def redoc(request: Request) -> Response:
            prefix = root(request)
            page = _redoc_page(f"{app.title} - API", prefix + assets_url, prefix + openapi_url)
            return HTMLResponse(page, headers=_PAGE_HEADERS)

        app.add_route(redoc_url, redoc, include_in_schema=False)
