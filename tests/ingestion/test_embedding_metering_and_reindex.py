"""Embedding usage events, and the background re-index after a change of embedding model."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from aiaas.backends.embeddings import EmbeddingError
from aiaas.events.models import OutboxEvent
from aiaas.ingestion.models import DocumentChunk
from aiaas.ingestion.pipeline import ReindexStep
from aiaas.ingestion.service import Upload, ingest_now
from aiaas.ingestion.tasks import Reindexer
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.ingestion.support import search
from tests.ingestion.test_embeddings_backend import EmbeddingServer

REINDEX = "/api/v1/ingestion/reindex"

ARTICLES = [
    Upload(
        "stoves.md",
        b"# Stoves\n\nClean the stove jet when the flame sputters.\n\n"
        b"## Fuel\n\nUse white gas or canister fuel, never car petrol.\n\n"
        b"## Storage\n\nEmpty the fuel bottle before a flight.",
    ),
    Upload(
        "tents.md",
        b"# Tents\n\nSeal tent seams before a rainy trip.\n\n"
        b"## Poles\n\nA bent pole can be splinted with the repair sleeve.",
    ),
]


class RefusesOnce(EmbeddingServer):
    """Answers every request but the ``request_number``-th, which gets a 400 (not retried)."""

    def __init__(self, request_number: int) -> None:
        super().__init__()
        self.request_number = request_number

    async def embeddings(self, request: Request) -> JSONResponse:
        if len(self.requests) + 1 == self.request_number:
            self.requests.append([])
            return JSONResponse({"error": {"message": "refused", "type": "invalid"}}, 400)
        return await super().embeddings(request)


async def _events(env: Stack, tenant_id: UUID, type_: str) -> list[dict[str, Any]]:
    async with env.platform.db.transaction(tenant_id) as session:
        rows = await session.execute(
            select(OutboxEvent.envelope)
            .where(OutboxEvent.type == type_)
            .order_by(OutboxEvent.created_at)
        )
        return [envelope["payload"] for (envelope,) in rows]


async def _models(env: Stack, tenant_id: UUID) -> list[str | None]:
    async with env.platform.db.transaction(tenant_id) as session:
        rows = await session.execute(select(DocumentChunk.embedding_model))
        return [model for (model,) in rows]


async def test_indexing_meters_one_event_per_document_version(env: Stack, monkeypatch: Any) -> None:
    server = EmbeddingServer()
    backend = server.backend(batch_size=2, price_micros_per_million=20_000_000)
    monkeypatch.setattr(env.platform.knowledge, "embeddings", backend)
    monkeypatch.setattr(env.platform.knowledge.settings, "embeddings", backend.settings)
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    results = await ingest_now(env.platform, tenant_id, ARTICLES)
    metered = await _events(env, tenant_id, "ingestion.embedding.metered")
    assert len(metered) == len(ARTICLES)  # per document version, not per chunk or request
    by_document = {event["document_id"]: event for event in metered}
    for result in results:
        event = by_document[str(result.document.id)]
        chunks = result.document.chunk_count
        assert event["purpose"] == "index" and event["version"] == 1
        assert event["model"] == "openai:fake-embed" and event["texts"] == chunks
        # the server reports 3 tokens a text; 20 dollars per million tokens, rounded up
        assert event["input_tokens"] == 3 * chunks and event["tokens_reported"] is True
        assert event["cost_micros"] == 60 * chunks
    assert sum(len(r) for r in server.requests) == sum(r.document.chunk_count for r in results)
    assert max(len(r) for r in server.requests) == 2  # batched by batch_size


async def test_a_hybrid_search_meters_its_query_embedding(env: Stack, monkeypatch: Any) -> None:
    server = EmbeddingServer()
    backend = server.backend(batch_size=8, price_micros_per_million=20_000_000)
    monkeypatch.setattr(env.platform.knowledge, "embeddings", backend)
    monkeypatch.setattr(env.platform.knowledge.settings, "embeddings", backend.settings)
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    await ingest_now(env.platform, tenant_id, ARTICLES)
    body = await search(env, tenant, "how do I seal the tent seams", mode="hybrid")
    assert body["hits"]
    queries = [
        e
        for e in await _events(env, tenant_id, "ingestion.embedding.metered")
        if e["purpose"] == "query"
    ]
    assert len(queries) == 1
    assert queries[0]["texts"] == 1 and queries[0]["input_tokens"] == 3
    assert queries[0]["cost_micros"] == 60 and queries[0]["document_id"] is None
    await search(env, tenant, "stove fuel", mode="lexical")  # no embedding, nothing billed
    after = await _events(env, tenant_id, "ingestion.embedding.metered")
    assert len([e for e in after if e["purpose"] == "query"]) == 1


async def test_estimated_tokens_when_the_endpoint_reports_none(
    env: Stack, monkeypatch: Any
) -> None:
    monkeypatch.setattr(
        env.platform.knowledge, "embeddings", EmbeddingServer(usage=False).backend()
    )
    tenant_id = UUID((await make_tenant(env)).id)
    await ingest_now(env.platform, tenant_id, ARTICLES[:1])
    (event,) = await _events(env, tenant_id, "ingestion.embedding.metered")
    assert event["tokens_reported"] is False and event["input_tokens"] > 0
    assert event["cost_micros"] == 0  # the default model price is unset


async def test_lexical_only_indexing_meters_nothing(env: Stack) -> None:
    tenant_id = UUID((await make_tenant(env)).id)
    await ingest_now(env.platform, tenant_id, ARTICLES[:1])
    assert await _events(env, tenant_id, "ingestion.embedding.metered") == []


async def test_model_change_reindexes_in_batches_and_resumes(env: Stack, monkeypatch: Any) -> None:
    kb = env.platform.knowledge
    old = EmbeddingServer()
    monkeypatch.setattr(kb, "embeddings", old.backend())
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    await ingest_now(env.platform, tenant_id, ARTICLES)
    total = len(await _models(env, tenant_id))
    assert total >= 5 and set(await _models(env, tenant_id)) == {"openai:fake-embed"}
    assert (await search(env, tenant, "stove flame sputters"))["mode"] == "hybrid"

    # The model changes; the endpoint refuses the second batch, once.
    new = RefusesOnce(request_number=2)
    monkeypatch.setattr(kb, "embeddings", new.backend(model="better-embed"))
    status = (await env.client.get(REINDEX, headers=tenant.auth)).json()
    assert status == {
        "model": "openai:better-embed",
        "state": "pending",
        "total_chunks": total,
        "current_chunks": 0,
        "pending_chunks": total,
    }
    # meanwhile search keeps working, lexical only
    meanwhile = await search(env, tenant, "stove flame sputters")
    assert meanwhile["mode"] == "lexical" and meanwhile["hits"][0]["title"] == "Stoves"

    reindexer = Reindexer(kb, env.platform.db, batch=2)
    steps: list[ReindexStep] = []

    def collect(_tenant: UUID, step: ReindexStep) -> None:
        steps.append(step)

    with pytest.raises(EmbeddingError):
        await reindexer.reindex_tenant(tenant_id, collect)
    models = await _models(env, tenant_id)
    assert models.count("openai:better-embed") == 2  # the first batch committed, no more
    assert (await search(env, tenant, "stove flame sputters"))["mode"] == "lexical"

    # a new run (after the crash) resumes with what is left, and ends hybrid
    done = await reindexer.reindex_tenant(tenant_id, collect)
    assert done == total - 2
    assert set(await _models(env, tenant_id)) == {"openai:better-embed"}
    pending = [s.pending for s in steps]
    assert pending[0] == total - 2 and pending[-1] == 0
    assert pending == sorted(pending, reverse=True) and len(set(pending)) == len(pending)
    assert all(0 < s.chunks <= 2 for s in steps)
    hybrid = await search(env, tenant, "stove flame sputters")
    assert hybrid["mode"] == "hybrid" and hybrid["hits"][0]["title"] == "Stoves"
    assert (await env.client.get(REINDEX, headers=tenant.auth)).json()["state"] == "current"

    # idempotent: nothing left to do
    assert await reindexer.reindex_tenant(tenant_id) == 0
    progressed = await _events(env, tenant_id, "ingestion.reindex.progressed")
    assert [p["pending"] for p in progressed][-1] == 0
    assert len(await _events(env, tenant_id, "ingestion.reindex.started")) == 2
    (completed,) = await _events(env, tenant_id, "ingestion.reindex.completed")
    assert completed == {"model": "openai:better-embed", "total": total}
    reindex_meters = [
        e
        for e in await _events(env, tenant_id, "ingestion.embedding.metered")
        if e["purpose"] == "reindex"
    ]
    assert sum(e["texts"] for e in reindex_meters) == total  # the rolled-back batch is not billed
    assert all(e["document_id"] is None for e in reindex_meters)


async def test_reindex_endpoint_runs_in_the_background(env: Stack, monkeypatch: Any) -> None:
    kb = env.platform.knowledge
    tenant = await make_tenant(env)
    await ingest_now(env.platform, UUID(tenant.id), ARTICLES)  # lexical only: no vectors
    refused = await env.client.post(REINDEX, headers=tenant.auth)
    assert refused.status_code == 422
    assert refused.json()["code"] == "embeddings_not_configured"
    assert (await env.client.get(REINDEX, headers=tenant.auth)).json()["state"] == "disabled"

    monkeypatch.setattr(kb, "embeddings", EmbeddingServer().backend())
    started = await env.client.post(REINDEX, headers=tenant.auth)
    assert started.status_code == 202
    assert started.json()["state"] in ("running", "current")
    for _ in range(200):
        status = (await env.client.get(REINDEX, headers=tenant.auth)).json()
        if status["state"] == "current":
            break
        await asyncio.sleep(0.05)
    assert status["state"] == "current" and status["pending_chunks"] == 0
    assert (await search(env, tenant, "seal tent seams"))["mode"] == "hybrid"


async def test_worker_pass_reindexes_every_tenant_that_differs(
    env: Stack, monkeypatch: Any
) -> None:
    kb = env.platform.knowledge
    first, second = await make_tenant(env), await make_tenant(env)
    for tenant in (first, second):
        await ingest_now(env.platform, UUID(tenant.id), ARTICLES[:1])
    server = EmbeddingServer()
    monkeypatch.setattr(kb, "embeddings", server.backend())
    reindexer = kb.reindexer(env.platform.db)
    assert await reindexer.run_once() > 0
    for tenant in (first, second):
        assert set(await _models(env, UUID(tenant.id))) == {"openai:fake-embed"}
    asked = len(server.requests)
    assert await reindexer.run_once() == 0 and len(server.requests) == asked


async def test_worker_background_reindex_starts_at_once_and_stops(
    env: Stack, monkeypatch: Any
) -> None:
    kb = env.platform.knowledge
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    await ingest_now(env.platform, tenant_id, ARTICLES[:1])
    monkeypatch.setattr(kb, "embeddings", EmbeddingServer().backend())
    kb.start_background(env.platform.db)  # what the worker does at start-up
    reindexer = kb.reindexer(env.platform.db)
    try:
        for _ in range(200):
            if set(await _models(env, tenant_id)) == {"openai:fake-embed"}:
                break
            await asyncio.sleep(0.05)
        assert set(await _models(env, tenant_id)) == {"openai:fake-embed"}
    finally:
        await kb.stop_background()
    assert not reindexer.running(tenant_id) and reindexer._task is None
