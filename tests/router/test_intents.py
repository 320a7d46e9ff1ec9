"""Intent training end to end: examples -> worker job (progress, artifact) -> activation -> decisions
use the intent to pick the workflow and report it among the features."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import pytest
from sqlalchemy import select

from aiaas.events.envelope import EventEnvelope
from aiaas.events.models import OutboxEvent
from aiaas.router.intent_dense import embeddings_available
from aiaas.router.tasks import IntentTrainingConsumer
from tests.conftest import Stack
from tests.factories import TenantHandle, make_tenant
from tests.router.support import decide

PHRASES = {
    "order_status": [
        "where is my order {n}",
        "my parcel {n} has not arrived yet",
        "when will order {n} be delivered",
        "track my package {n}",
    ],
    "refund": [
        "I want my money back for order {n}",
        "please refund order {n}",
        "how do I get a refund for {n}",
        "return item {n} and refund me",
    ],
    "opening_hours": [
        "what time do you open on day {n}",
        "are you open on sunday {n}",
        "store hours for shop {n}",
        "when do you close on day {n}",
    ],
}


def _examples() -> list[dict[str, str]]:
    return [
        {"text": template.format(n=n), "label": label}
        for label, templates in PHRASES.items()
        for template in templates
        for n in range(5)
    ]


async def _train(
    env: Stack,
    tenant: TenantHandle,
    method: Literal["sparse", "hybrid"] = "sparse",
    skip_encoder_confidence: float = 0.9,
) -> dict[str, object]:
    await env.client.post(
        "/api/v1/router/intents/examples", headers=tenant.auth, json={"examples": _examples()}
    )
    queued = (await env.client.post("/api/v1/router/intents/train", headers=tenant.auth)).json()
    tenant_id = UUID(tenant.id)
    async with env.platform.db.transaction(tenant_id) as session:
        stored = (
            await session.execute(
                select(OutboxEvent.envelope).where(
                    OutboxEvent.type == "router.intent_training.requested"
                )
            )
        ).scalar_one()
    consumer = IntentTrainingConsumer(
        env.platform.cache, env.settings.namespace, method, skip_encoder_confidence
    )
    async with env.platform.db.transaction(tenant_id) as session:
        await consumer.handle(session, EventEnvelope.model_validate(stored))
    url = f"/api/v1/router/intents/models/{queued['id']}"
    return dict((await env.client.get(url, headers=tenant.auth)).json())


async def test_trained_intents_route_decisions(env: Stack) -> None:
    tenant = await make_tenant(env)
    model = await _train(env, tenant)
    assert model["status"] == "ready" and model["progress"] == 1.0, model
    metrics = model["metrics"]
    assert isinstance(metrics, dict) and metrics["labels"] == 3 and metrics["examples"] == 60
    assert metrics["method"] == "sparse" and metrics["skip_encoder_confidence"] is None
    activated = await env.client.post(
        f"/api/v1/router/intents/models/{model['id']}/activate", headers=tenant.auth
    )
    assert activated.status_code == 200 and activated.json()["active"] is True
    await env.client.put(
        "/api/v1/router/settings",
        headers=tenant.auth,
        json={"intent_workflows": {"order_status": "order_status", "refund": "complaint"}},
    )
    body = await decide(env.client, tenant, "where is my order 777")
    assert body["intent"] == "order_status" and body["workflow"] == "order_status"
    assert body["features"]["intent_confidence"] > 0
    assert "order_status" in body["features"]["intent_scores"]
    refund = await decide(env.client, tenant, "please refund order 12")
    assert refund["workflow"] == "complaint"
    hours = await decide(env.client, tenant, "what time do you open on day 3")
    assert hours["intent"] == "opening_hours" and hours["workflow"] == "customer_support"


async def test_models_and_state_are_per_tenant(env: Stack) -> None:
    owner = await make_tenant(env)
    other = await make_tenant(env)
    model = await _train(env, owner)
    await env.client.post(
        f"/api/v1/router/intents/models/{model['id']}/activate", headers=owner.auth
    )
    theirs = await env.client.post(
        f"/api/v1/router/intents/models/{model['id']}/activate", headers=other.auth
    )
    assert theirs.status_code == 404
    body = await decide(env.client, other, "where is my order 777")
    assert body["intent"] is None and body["features"]["intent_confidence"] is None
    listed = await env.client.get("/api/v1/router/intents/models", headers=other.auth)
    assert listed.json()["items"] == []


async def test_training_progress_is_published_from_the_training_thread(env: Stack) -> None:
    import asyncio
    from uuid import uuid4

    from aiaas.router.tasks import _ProgressReporter
    from aiaas.router.training import progress_key

    model_id = uuid4()
    reporter = _ProgressReporter(env.platform.cache, model_id, asyncio.get_running_loop())
    await asyncio.to_thread(reporter, 0.4, "fitting the sparse scorer")
    await asyncio.to_thread(reporter, 0.41, "ignored: below the reporting step")
    await reporter.flush()
    raw = await env.platform.cache.get(progress_key(model_id))
    assert raw is not None
    assert b'"progress": 0.4' in raw and b"sparse scorer" in raw


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
@pytest.mark.parametrize(("setting", "stored"), [(0.8, 0.8), (1.01, None)])
async def test_hybrid_training_takes_the_skip_encoder_setting(
    env: Stack, setting: float, stored: float | None
) -> None:
    tenant = await make_tenant(env)
    model = await _train(env, tenant, "hybrid", setting)
    assert model["status"] == "ready", model
    metrics = model["metrics"]
    assert isinstance(metrics, dict) and metrics["method"] == "hybrid"
    assert metrics["skip_encoder_confidence"] == stored
