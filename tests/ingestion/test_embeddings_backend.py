"""The OpenAI-compatible embeddings backend against an app speaking the /v1/embeddings wire
protocol, and hybrid search through the pipeline with it."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import httpx
import numpy as np
import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from aiaas.backends.embeddings import EmbeddingError, estimate_tokens
from aiaas.backends.embeddings.config import EmbeddingsSettings
from aiaas.backends.embeddings.factory import build_embeddings
from aiaas.backends.embeddings.openai_backend import OpenAIEmbeddings
from aiaas.ingestion.service import Upload, ingest_now, search_knowledge
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.ingestion.support import DOCS, search

DIM = 64


def bag_of_words(text: str) -> list[float]:
    vector = np.zeros(DIM, dtype=np.float32)
    for word in text.lower().split():
        word = word.strip(".,?!:;")
        if word:
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return [float(v) * 3.0 for v in vector]  # not unit length: the client normalises


class EmbeddingServer:
    """/v1/embeddings with scripted failures; records every request."""

    def __init__(
        self,
        failures: list[int] | None = None,
        *,
        usage: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.failures = list(failures or [])
        self.usage = usage
        self.headers = headers or {}
        self.requests: list[list[str]] = []
        self.app = FastAPI()
        self.app.post("/v1/embeddings")(self.embeddings)

    async def embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(list(body["input"]))
        if self.failures:
            status = self.failures.pop(0)
            return JSONResponse(
                {"error": {"message": "busy", "type": "server_error"}}, status, self.headers
            )
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words(text)}
            for i, text in enumerate(body["input"])
        ]
        answer: dict[str, Any] = {
            "object": "list",
            "data": list(reversed(data)),  # any order: the client sorts by index
            "model": body["model"],
        }
        if self.usage:
            answer["usage"] = {"prompt_tokens": len(data) * 3, "total_tokens": len(data) * 3}
        return JSONResponse(answer)

    def backend(self, **overrides: Any) -> OpenAIEmbeddings:
        fields: dict[str, Any] = {
            "provider": "openai",
            "model": "fake-embed",
            "base_url": "http://embed.test/v1",
        }
        settings = EmbeddingsSettings(**{**fields, **overrides})
        client = openai.AsyncOpenAI(
            api_key="k",
            base_url="http://embed.test/v1",
            max_retries=0,
            http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app)),
        )

        async def no_sleep(_seconds: float) -> None:
            return None

        return OpenAIEmbeddings(settings, client=client, sleep=no_sleep)


async def test_batches_in_order_and_normalises() -> None:
    server = EmbeddingServer()
    backend = server.backend(batch_size=2)
    texts = ["tent poles", "boot laces", "stove fuel", "rain jacket", "sleeping bag"]
    vectors = await backend.embed(texts)
    assert [len(r) for r in server.requests] == [2, 2, 1]
    assert vectors.shape == (5, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = np.asarray(bag_of_words("stove fuel"))
    assert np.allclose(vectors[2], expected / np.linalg.norm(expected), atol=1e-5)
    assert backend.usage_tokens == 15
    await backend.close()


async def test_retries_transient_errors_and_gives_up_on_others() -> None:
    server = EmbeddingServer(failures=[503, 429])
    vectors = await server.backend().embed(["tent"])
    assert vectors.shape == (1, DIM) and len(server.requests) == 3
    refused = EmbeddingServer(failures=[400])
    with pytest.raises(EmbeddingError):
        await refused.backend().embed(["tent"])
    assert len(refused.requests) == 1
    exhausted = EmbeddingServer(failures=[503] * 5)
    with pytest.raises(EmbeddingError):
        await exhausted.backend(max_retries=2).embed(["tent"])
    assert len(exhausted.requests) == 3


async def test_usage_is_the_endpoints_or_an_estimate() -> None:
    texts = ["tent poles", "boot laces", "stove fuel"]
    reported = await EmbeddingServer().backend(batch_size=2).embed_with_usage(texts)
    assert reported.input_tokens == 9 and reported.tokens_reported
    silent = await EmbeddingServer(usage=False).backend().embed_with_usage(texts)
    assert silent.tokens_reported is False
    assert silent.input_tokens == estimate_tokens(texts) == 6
    assert silent.vectors.shape == (3, DIM)


async def test_retry_after_is_honoured() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    server = EmbeddingServer(failures=[429], headers={"retry-after": "7"})
    backend = server.backend(retry_initial_backoff_seconds=0.01)
    backend._sleep = record
    vectors = await backend.embed(["tent"])
    assert vectors.shape == (1, DIM) and len(server.requests) == 2
    assert waits == [7.0]


def test_embedding_cost_rounds_up() -> None:
    priced = EmbeddingsSettings(price_micros_per_million=20_000)
    assert priced.cost_micros(0) == 0
    assert priced.cost_micros(1) == 1
    assert priced.cost_micros(1_000_000) == 20_000
    assert EmbeddingsSettings().cost_micros(5_000) == 0


def test_factory_and_settings() -> None:
    assert build_embeddings(EmbeddingsSettings()) is None
    local = build_embeddings(EmbeddingsSettings(provider="local", model_path="/nowhere"))
    assert local is not None and local.kind == "local"
    with pytest.raises(ValueError, match="model_path"):
        EmbeddingsSettings(provider="local")


async def test_local_backend_reports_a_missing_model() -> None:
    local = build_embeddings(EmbeddingsSettings(provider="local", model_path="/nowhere"))
    assert local is not None
    with pytest.raises(EmbeddingError):
        await local.embed(["tent"])


async def test_hybrid_search_with_embeddings(env: Stack, monkeypatch: Any) -> None:
    server = EmbeddingServer()
    monkeypatch.setattr(env.platform.knowledge, "embeddings", server.backend())
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    await ingest_now(
        env.platform,
        tenant_id,
        [
            Upload("a.md", b"# Stoves\n\nClean the stove jet when the flame sputters."),
            Upload("b.md", b"# Tents\n\nSeal tent seams before a rainy trip."),
        ],
    )
    docs = (await env.client.get(DOCS, headers=tenant.auth)).json()["items"]
    assert all(d["status"] == "ready" for d in docs)
    chunks = (await env.client.get(f"{DOCS}/{docs[0]['id']}/chunks", headers=tenant.auth)).json()
    assert chunks["items"][0]["embedding_model"] == "openai:fake-embed"
    hybrid = await search(env, tenant, "stove flame sputters")
    assert hybrid["mode"] == "hybrid" and hybrid["hits"][0]["title"] == "Stoves"
    dense = await search(env, tenant, "seal seams rainy", mode="dense")
    assert dense["hits"][0]["title"] == "Tents"
    lexical = await search(env, tenant, "seal seams rainy", mode="lexical")
    assert lexical["mode"] == "lexical"
    assert (await search_knowledge(env.platform, tenant_id, "tent seams"))[0]["title"] == "Tents"


async def test_embedding_failure_fails_the_document_with_a_reason(
    env: Stack, monkeypatch: Any
) -> None:
    server = EmbeddingServer(failures=[400])
    monkeypatch.setattr(env.platform.knowledge, "embeddings", server.backend())
    tenant = await make_tenant(env)
    (result,) = await ingest_now(
        env.platform, UUID(tenant.id), [Upload("a.md", b"# Stoves\n\nClean the jet.")]
    )
    body = (await env.client.get(f"{DOCS}/{result.document.id}", headers=tenant.auth)).json()
    assert body["status"] == "failed" and body["error_code"] == "embeddings_unavailable"
