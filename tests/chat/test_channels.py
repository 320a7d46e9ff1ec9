"""Channels: the widget (key, origins, visitor tokens) and signed webhooks in and out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.chat.engines import ScriptedEngine
from tests.conftest import Stack
from tests.factories import TenantHandle, make_tenant


class Receiver:
    """A real HTTP endpoint standing in for the tenant's system; fails the first ``fail`` calls."""

    def __init__(self) -> None:
        self.fail = 0
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if self.fail > 0:
            self.fail -= 1
            return Response(status_code=503)
        self.received.append((dict(request.headers), body))
        return Response(status_code=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    app = Starlette(routes=[Route("/hook", made.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    made.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/hook"
    yield made
    server.should_exit = True
    await task


def _signed(
    tenant_id: str, secret: str, body: dict[str, Any], ts: int | None = None
) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    stamp = str(ts if ts is not None else int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-aiaas-tenant": tenant_id,
        "x-aiaas-timestamp": stamp,
        "x-aiaas-signature": f"sha256={digest}",
    }
    return headers, raw


async def _channels(env: Stack, tenant: TenantHandle, **changes: Any) -> dict[str, Any]:
    current = await env.client.get("/api/v1/chat/channels", headers=tenant.auth)
    assert current.status_code == 200, current.text
    if not changes:
        return dict(current.json())
    updated = await env.client.put(
        "/api/v1/chat/channels", headers=tenant.auth, json={**changes, "rotate_secrets": True}
    )
    assert updated.status_code == 200, updated.text
    return dict(updated.json())


async def _wait_for(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met within 10 s")


async def test_widget_session_needs_an_allowed_origin(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    channels = await _channels(env, tenant, allowed_origins=["https://shop.example/"])
    key = channels["widget_key"]
    body = {"widget_key": key, "end_user_id": "visitor-7"}
    refused = await env.client.post(
        "/api/v1/chat/widget/sessions", json=body, headers={"origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed"
    unknown = await env.client.post(
        "/api/v1/chat/widget/sessions",
        json={**body, "widget_key": key[:-4] + "AAAA"},
        headers={"origin": "https://shop.example"},
    )
    assert unknown.status_code == 404
    made = await env.client.post(
        "/api/v1/chat/widget/sessions", json=body, headers={"origin": "https://shop.example"}
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    visitor = {"Authorization": f"Bearer {token}"}
    said = await env.client.post(
        "/api/v1/chat/widget/messages", headers=visitor, json={"content": "hello"}
    )
    assert said.status_code == 200, said.text
    assert said.json()["replies"][0]["content"] == "echo: hello"
    # the visitor token is not an API credential
    assert (await env.client.get("/api/v1/chat/conversations", headers=visitor)).status_code == 401
    # and another visitor cannot write into this conversation
    other = await env.client.post(
        "/api/v1/chat/widget/sessions",
        json={"widget_key": key, "end_user_id": "visitor-8"},
        headers={"origin": "https://shop.example"},
    )
    intruder = {"Authorization": f"Bearer {other.json()['token']}"}
    denied = await env.client.post(
        "/api/v1/chat/widget/messages",
        headers=intruder,
        json={"conversation_id": said.json()["conversation_id"], "content": "hi"},
    )
    assert denied.status_code == 404


async def test_inbound_webhook_answers_and_replies_signed_outbound(
    env: Stack, engine: ScriptedEngine, receiver: Receiver
) -> None:
    tenant = await make_tenant(env)
    channels = await _channels(env, tenant, outbound_url=receiver.url)
    headers, raw = _signed(
        tenant.id, channels["inbound_secret"], {"end_user_id": "crm-1", "text": "hi"}
    )
    answered = await env.client.post("/api/v1/chat/webhooks/inbound", headers=headers, content=raw)
    assert answered.status_code == 200, answered.text
    assert answered.json()["replies"][0]["content"] == "echo: hi"
    await _wait_for(lambda: len(receiver.received) == 1)
    got_headers, body = receiver.received[0]
    stamp = got_headers["x-aiaas-timestamp"]
    expected = hmac.new(
        channels["outbound_secret"].encode(), stamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert got_headers["x-aiaas-signature"] == f"sha256={expected}"
    assert json.loads(body)["message"]["content"] == "echo: hi"
    # a second message continues the same conversation
    headers, raw = _signed(
        tenant.id, channels["inbound_secret"], {"end_user_id": "crm-1", "text": "again"}
    )
    again = await env.client.post("/api/v1/chat/webhooks/inbound", headers=headers, content=raw)
    assert again.json()["conversation_id"] == answered.json()["conversation_id"]


async def test_bad_signatures_and_replays_are_rejected(env: Stack, engine: ScriptedEngine) -> None:
    tenant = await make_tenant(env)
    channels = await _channels(env, tenant, allowed_origins=[])
    secret = channels["inbound_secret"]
    body = {"end_user_id": "crm-2", "text": "hi"}
    url = "/api/v1/chat/webhooks/inbound"
    headers, raw = _signed(tenant.id, "wrong-secret", body)
    assert (await env.client.post(url, headers=headers, content=raw)).status_code == 401
    stale, raw = _signed(tenant.id, secret, body, ts=int(time.time()) - 3600)
    assert (await env.client.post(url, headers=stale, content=raw)).status_code == 401
    headers, raw = _signed(tenant.id, secret, body)
    tampered = raw.replace(b"hi", b"ho")
    assert (await env.client.post(url, headers=headers, content=tampered)).status_code == 401
    assert (await env.client.post(url, headers=headers, content=raw)).status_code == 200
    replay = await env.client.post(url, headers=headers, content=raw)
    assert replay.status_code == 409 and replay.json()["code"] == "webhook_replayed"
    assert engine.calls == ["hi"]


async def test_failing_outbound_retries_then_dead_letters(
    env: Stack, engine: ScriptedEngine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = env.platform.chat.webhooks.settings
    monkeypatch.setattr(settings, "webhook_backoff_seconds", 0.01)
    monkeypatch.setattr(settings, "webhook_max_attempts", 3)
    tenant = await make_tenant(env)
    channels = await _channels(env, tenant, outbound_url=receiver.url)
    receiver.fail = 2  # two failures, then the third attempt lands
    headers, raw = _signed(tenant.id, channels["inbound_secret"], {"end_user_id": "a", "text": "x"})
    await env.client.post("/api/v1/chat/webhooks/inbound", headers=headers, content=raw)
    await _wait_for(lambda: len(receiver.received) == 1)
    receiver.fail = 99
    headers, raw = _signed(tenant.id, channels["inbound_secret"], {"end_user_id": "b", "text": "y"})
    await env.client.post("/api/v1/chat/webhooks/inbound", headers=headers, content=raw)

    async def dead() -> list[dict[str, Any]]:
        page = await env.client.get("/api/v1/chat/webhooks/deliveries", headers=tenant.auth)
        return list(page.json()["items"])

    for _ in range(200):
        if await dead():
            break
        await asyncio.sleep(0.05)
    [letter] = await dead()
    assert letter["attempts"] == 3 and letter["last_error"] == "HTTP 503"
    delivered = await env.client.get(
        "/api/v1/chat/webhooks/deliveries", headers=tenant.auth, params={"status": "delivered"}
    )
    assert [d["attempts"] for d in delivered.json()["items"]] == [3]
