"""Progress over SSE, and a worker that dies mid-document."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from aiaas.ingestion import pipeline
from aiaas.ingestion.models import DocumentChunk
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.ingestion.support import (
    DOCS,
    MARKDOWN,
    running_events,
    search,
    upload,
    wait_settled,
)


def _events(raw: str) -> list[dict[str, Any]]:
    events = []
    for block in raw.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append(
            {"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])}
        )
    return events


async def test_sse_progress_arrives_in_order(env: Stack) -> None:
    tenant = await make_tenant(env)
    (item,) = await upload(env, tenant, [("returns.md", MARKDOWN, "text/markdown")])
    doc_id = item["document"]["id"]

    async def read_stream() -> str:
        response = await env.client.get(
            f"{DOCS}/{doc_id}/events", headers=tenant.auth, params={"max_seconds": 30}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return response.text

    reader = asyncio.create_task(read_stream())
    await asyncio.sleep(0.2)  # the stream has sent "queued" and waits
    async with running_events(env):
        raw = await asyncio.wait_for(reader, 30)
    events = _events(raw)
    statuses = [e["status"] for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "ready", statuses
    # the pipeline ran in this process, so every stage was seen, in order, once
    assert statuses == ["queued", "parsing", "indexing", "ready"]
    assert [e["id"] for e in events] == [1, 2, 3, 4]
    assert events[-1]["chunks"] >= 1 and all(e["version"] == 1 for e in events)


async def test_a_crash_mid_document_leaves_no_half_index(env: Stack, monkeypatch: Any) -> None:
    tenant = await make_tenant(env)
    crashes = {"left": 2}
    real_chunk = pipeline.chunk_document

    def flaky_chunk(*args: Any, **kwargs: Any) -> Any:
        if crashes["left"] > 0:
            crashes["left"] -= 1
            raise RuntimeError("worker lost mid-document")
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(pipeline, "chunk_document", flaky_chunk)
    async with running_events(env):
        (item,) = await upload(env, tenant, [("returns.md", MARKDOWN, "text/markdown")])
        doc_id = item["document"]["id"]
        ready = await wait_settled(env, tenant, doc_id)
    assert crashes["left"] == 0
    assert ready["status"] == "ready"
    async with env.platform.db.transaction(UUID(tenant.id)) as session:
        positions = (
            await session.execute(
                select(DocumentChunk.position, func.count())
                .where(DocumentChunk.document_id == UUID(doc_id))
                .group_by(DocumentChunk.position)
            )
        ).all()
    assert positions and all(count == 1 for _, count in positions)
    assert len(positions) == ready["chunk_count"]


async def test_worker_restart_mid_document_resumes(env: Stack, monkeypatch: Any) -> None:
    """The worker dies while indexing a document; a new worker picks the event up and finishes."""
    tenant = await make_tenant(env)
    died = asyncio.Event()
    real_write = pipeline.ChunkRepository.replace_for_document
    calls = {"n": 0}

    async def die_after_writing_chunks(self: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        await real_write(self, *args, **kwargs)  # the chunks are written, not yet committed ...
        if calls["n"] == 1:
            died.set()
            raise RuntimeError("worker process killed")  # ... when the worker goes away

    monkeypatch.setattr(pipeline.ChunkRepository, "replace_for_document", die_after_writing_chunks)
    await env.platform.start_events()
    try:
        (item,) = await upload(env, tenant, [("returns.md", MARKDOWN, "text/markdown")])
        doc_id = item["document"]["id"]
        await asyncio.wait_for(died.wait(), 20)
    finally:
        await env.platform.stop_events()  # the worker is gone; its event was not acknowledged
    mid = (await env.client.get(f"{DOCS}/{doc_id}", headers=tenant.auth)).json()
    assert mid["status"] == "queued" and mid["chunk_count"] == 0
    assert (await search(env, tenant, "damaged parcels photo"))["hits"] == []
    async with running_events(env):  # the new worker
        ready = await wait_settled(env, tenant, doc_id)
    assert ready["status"] == "ready" and calls["n"] == 2
    hits = (await search(env, tenant, "damaged parcels photo"))["hits"]
    assert len(hits) == len({h["id"] for h in hits}) >= 1
    chunks = (await env.client.get(f"{DOCS}/{doc_id}/chunks", headers=tenant.auth)).json()
    assert len(chunks["items"]) == ready["chunk_count"]
    listed = (await env.client.get(DOCS, headers=tenant.auth)).json()["items"]
    assert [d["id"] for d in listed] == [doc_id]
