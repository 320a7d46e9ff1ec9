"""Helpers for the ingestion API tests: uploads, waiting for the pipeline, running events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.conftest import Stack
from tests.factories import TenantHandle

DOCS = "/api/v1/ingestion/documents"
SEARCH = "/api/v1/ingestion/search"

MARKDOWN = b"""# Returns policy

## Window
You can return unused gear within 60 days of delivery for a full refund.

## Damaged items
Report damaged parcels within 48 hours with a photo of the box.
"""

CSV_FAQ = b"""question,answer
How long does shipping take?,Standard shipping takes 3 to 7 business days.
Do you ship to Canada?,Yes we ship to Canada with duties prepaid.
"""


@asynccontextmanager
async def running_events(stack: Stack) -> AsyncIterator[None]:
    """Run the outbox relay and the consumers (the worker) for the duration of the block."""
    await stack.platform.start_events()
    try:
        yield
        await drain(stack)
    finally:
        await stack.platform.stop_events()


async def drain(stack: Stack, *, within: float = 15.0) -> None:
    """Wait until every consumer has settled what the bus holds, so nothing is left queued for
    the next test (whose reset removes the tenants those events belong to)."""
    runner = stack.platform.runner
    assert runner is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    quiet = 0
    while quiet < 4 and loop.time() < deadline:
        lags = await runner.lag()
        quiet = quiet + 1 if not any(lags.values()) else 0
        await asyncio.sleep(0.05)


async def upload(
    stack: Stack,
    tenant: TenantHandle,
    files: list[tuple[str, bytes, str]],
    **form: Any,
) -> list[dict[str, Any]]:
    response = await stack.client.post(
        DOCS,
        headers=tenant.auth,
        files=[("files", (name, data, ctype)) for name, data, ctype in files],
        data=form,
    )
    assert response.status_code == 201, response.text
    return list(response.json()["items"])


async def wait_settled(
    stack: Stack, tenant: TenantHandle, document_id: str, *, version: int | None = None
) -> dict[str, Any]:
    """Poll until the document's latest version is ready or failed (20 s at most)."""
    for _ in range(400):
        response = await stack.client.get(f"{DOCS}/{document_id}", headers=tenant.auth)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("ready", "failed") and (
            version is None or body["version"] == version
        ):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"document {document_id} did not settle: {body}")


async def search(stack: Stack, tenant: TenantHandle, query: str, **extra: Any) -> dict[str, Any]:
    response = await stack.client.post(SEARCH, headers=tenant.auth, json={"query": query, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
