"""The HTTP tool adapter against a real local HTTP server: retries only for idempotent tools,
Retry-After, timeouts, the breaker, the bulkhead, idempotency keys, secrets and URL safety."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiaas.kit.resilience import BulkheadFullError, CircuitOpenError
from aiaas.tools.config import ToolSettings
from aiaas.tools.errors import ToolCallFailed, ToolRejected, ToolSecretMissing
from aiaas.tools.http import HttpToolAdapter
from aiaas.tools.manifest import ToolManifest, parse_manifest
from tests.tools.server import Reply, ToolServer, tool_server

TENANT = "7f1f0000-0000-7000-8000-000000000001"
SETTINGS = ToolSettings(retry_initial_backoff_seconds=0.01, retry_max_backoff_seconds=0.02,
                        breaker_failure_threshold=3, breaker_recovery_seconds=60)  # fmt: skip


def manifest(server: ToolServer, path: str = "/orders/{order_id}", **changes: Any) -> ToolManifest:
    data: dict[str, Any] = {
        "name": "lookup_order", "version": "1.0.0",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}},
                         "required": ["order_id"]},
        "http": {"method": "GET", "url": server.url + path},
        "timeout_seconds": 2, "retries": 2, "idempotent": True,
    }  # fmt: skip
    data.update(changes)
    return parse_manifest(data)


@pytest.fixture
async def server() -> AsyncIterator[ToolServer]:
    async with tool_server() as running:
        yield running


@pytest.fixture
async def adapter() -> AsyncIterator[HttpToolAdapter]:
    made = HttpToolAdapter(SETTINGS, secrets={f"{TENANT}/store_key": "s3cret"})
    yield made
    await made.close()


async def test_idempotent_call_retries_5xx_then_succeeds(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/orders/A-1"] = [Reply(503), Reply(502), Reply(200, {"status": "shipped"})]
    result = await adapter.call(TENANT, manifest(server), {"order_id": "A-1"}, scope="run-1")
    assert result == {"status": "shipped"} and len(server.hits("/orders/A-1")) == 3


async def test_attempts_never_exceed_one_plus_retries(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/orders/A-1"] = [Reply(500)]
    with pytest.raises(ToolCallFailed):
        await adapter.call(TENANT, manifest(server), {"order_id": "A-1"}, scope="run-1")
    assert len(server.hits("/orders/A-1")) == 3


async def test_a_non_idempotent_call_is_never_retried(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/leads"] = [Reply(503)]
    create = manifest(server, "/leads", name="create_lead", idempotent=False, side_effect=True,
                      http={"method": "POST", "url": server.url + "/leads"},
                      input_schema={"type": "object"})  # fmt: skip
    with pytest.raises(ToolCallFailed):
        await adapter.call(TENANT, create, {"name": "Ann"}, scope="run-1")
    assert len(server.hits("/leads")) == 1


async def test_4xx_is_rejected_without_retry_and_ok_statuses_are_results(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/orders/BAD"] = [Reply(400, {"error": "bad id"})]
    with pytest.raises(ToolRejected, match="400"):
        await adapter.call(TENANT, manifest(server), {"order_id": "BAD"}, scope="r")
    assert len(server.hits("/orders/BAD")) == 1
    server.scripts["/orders/NONE"] = [Reply(404, {"found": False})]
    lookup = manifest(server, http={"method": "GET", "url": server.url + "/orders/{order_id}",
                                    "ok_statuses": [404]})  # fmt: skip
    assert await adapter.call(TENANT, lookup, {"order_id": "NONE"}, scope="r") == {"found": False}


async def test_retry_after_is_honoured(server: ToolServer, adapter: HttpToolAdapter) -> None:
    server.scripts["/orders/A-1"] = [
        Reply(429, headers={"Retry-After": "0.2"}),
        Reply(200, {"ok": 1}),
    ]
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await adapter.call(TENANT, manifest(server), {"order_id": "A-1"}, scope="r") == {"ok": 1}
    assert loop.time() - started >= 0.2


async def test_timeout_is_a_tool_failure(server: ToolServer, adapter: HttpToolAdapter) -> None:
    server.scripts["/orders/SLOW"] = [Reply(200, {}, delay=1.0)]
    slow = manifest(server, timeout_seconds=0.1, retries=0)
    with pytest.raises(ToolCallFailed, match="did not answer"):
        await adapter.call(TENANT, slow, {"order_id": "SLOW"}, scope="r")


async def test_breaker_opens_and_stops_calling(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/orders/A-1"] = [Reply(500)]
    once = manifest(server, retries=0)
    for _ in range(3):
        with pytest.raises(ToolCallFailed):
            await adapter.call(TENANT, once, {"order_id": "A-1"}, scope="r")
    with pytest.raises(CircuitOpenError):
        await adapter.call(TENANT, once, {"order_id": "A-1"}, scope="r")
    assert len(server.hits("/orders/A-1")) == 3
    # another tenant's breaker is its own
    server.scripts["/orders/A-1"] = [Reply(200, {"ok": True})]
    assert await adapter.call("other", once, {"order_id": "A-1"}, scope="r") == {"ok": True}


async def test_bulkhead_refuses_calls_beyond_its_limits(server: ToolServer) -> None:
    narrow = HttpToolAdapter(
        SETTINGS.model_copy(update={"max_concurrent_calls": 1, "max_waiting_calls": 0})
    )
    server.scripts["/orders/SLOW"] = [Reply(200, {"ok": True}, delay=0.3)]
    try:
        slow = manifest(server, retries=0)
        first = asyncio.ensure_future(narrow.call(TENANT, slow, {"order_id": "SLOW"}, scope="r"))
        await asyncio.sleep(0.05)
        with pytest.raises(BulkheadFullError):
            await narrow.call(TENANT, slow, {"order_id": "SLOW"}, scope="r")
        assert await first == {"ok": True}
    finally:
        await narrow.close()


async def test_side_effects_carry_a_stable_idempotency_key(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/leads"] = [Reply(201, {"id": "L-1"})]
    create = manifest(server, "/leads", name="create_lead", side_effect=True,
                      http={"method": "POST", "url": server.url + "/leads"},
                      input_schema={"type": "object"})  # fmt: skip
    for scope in ("run-1", "run-1", "run-2"):
        await adapter.call(TENANT, create, {"name": "Ann", "email": "a@b.co"}, scope=scope)
    keys = [r.headers.get("idempotency-key") for r in server.hits("/leads")]
    assert keys[0] and keys[0] == keys[1] and keys[2] != keys[0]
    assert server.hits("/leads")[0].body == {"name": "Ann", "email": "a@b.co"}


async def test_secrets_fill_headers_and_a_missing_secret_fails_before_calling(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/orders/A-1"] = [Reply(200, {"ok": True})]
    secured = manifest(server, http={"method": "GET", "url": server.url + "/orders/{order_id}",
                                     "headers": {"Authorization": "Bearer {secret:store_key}"}})  # fmt: skip
    await adapter.call(TENANT, secured, {"order_id": "A-1"}, scope="r")
    assert server.hits("/orders/A-1")[0].headers["authorization"] == "Bearer s3cret"
    with pytest.raises(ToolSecretMissing):
        await adapter.call("another-tenant", secured, {"order_id": "A-1"}, scope="r")
    assert len(server.hits("/orders/A-1")) == 1


async def test_arguments_cannot_change_the_host_or_the_path(
    server: ToolServer, adapter: HttpToolAdapter
) -> None:
    server.scripts["/orders/evil.example%2F..%2Fadmin%3Fx%3D1%40host"] = [
        Reply(200, {"ok": "encoded"})
    ]
    result = await adapter.call(
        TENANT, manifest(server), {"order_id": "evil.example/../admin?x=1@host"}, scope="r"
    )
    assert result == {"ok": "encoded"}
    assert [r.path for r in server.received] == ["/orders/evil.example%2F..%2Fadmin%3Fx%3D1%40host"]
