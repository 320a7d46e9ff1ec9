"""Through the whole platform: an API call -> outbox -> relay -> bus -> audit consumer -> audit log API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Stack
from tests.factories import make_tenant


@pytest.fixture
async def running(env: Stack) -> AsyncIterator[Stack]:
    await env.platform.start_events()
    try:
        yield env
    finally:
        await env.platform.stop_events()


async def _audit(
    stack: Stack, headers: dict[str, str], action: str, count: int
) -> list[dict[str, Any]]:
    """The tenant's audit entries for ``action`` once at least ``count`` have arrived."""
    for _ in range(300):
        page = await stack.client.get(
            "/api/v1/audit-log", params={"action": action}, headers=headers
        )
        assert page.status_code == 200, page.text
        if len(page.json()["items"]) >= count:
            return list(page.json()["items"])
        await asyncio.sleep(0.05)
    pytest.fail(f"fewer than {count} {action} entries reached the audit log")


async def test_api_key_creation_reaches_the_audit_log(running: Stack) -> None:
    acme = await make_tenant(running)
    other = await make_tenant(running)
    created = await running.client.post(
        "/api/v1/api-keys",
        headers={**acme.auth, "X-Request-ID": "audit-trail-1"},
        json={"name": "audited", "scopes": ["tenant:read"]},
    )
    key_id = created.json()["id"]
    # make_tenant created one key already; this is the second
    entries = await _audit(running, acme.auth, "tenancy.api_key.created", count=2)
    entry = next(e for e in entries if e["object"]["id"] == key_id)
    assert entry["request_id"] == "audit-trail-1"
    assert entry["actor"]["type"] == "user" and entry["actor"]["display"] == acme.owner_email
    assert entry["details"]["name"] == "audited" and "key" not in entry["details"]
    # the other tenant's audit log has its own key, never this one
    theirs = await _audit(running, other.auth, "tenancy.api_key.created", count=1)
    assert len(theirs) == 1 and theirs[0]["object"]["id"] != key_id
