"""Ingestion throughput and knowledge-search latency, on SQLite and PostgreSQL.

Ingestion: the demo help centre (Markdown articles and FAQ files), copied with a marker so every
copy is new content, goes through ``ingest_now`` (the upload transaction, then parse -> chunk ->
index in its own transaction, as the worker does), lexical only. Pages are PDF pages or 3,000
characters of text.

Search: one tenant's corpus grown to 10k and then 100k chunks (real help-centre passages with
extra product words, inserted in bulk), each chunk with a 384-dimension unit vector. Latency is the
service call the API and the orchestrator make (``search_index``: stamp query, cached BM25/cosine
index, RRF, confidence), warm, over the retrieval eval's questions; the first search after a
change rebuilds the index and is reported apart ("cold build").

    python -m bench.ingestion_search [--modes embedded,postgres] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import insert

from aiaas.config import Settings
from aiaas.ingestion.chunker import chunk_document
from aiaas.ingestion.demo_knowledge import demo_sources
from aiaas.ingestion.models import READY, Document, DocumentChunk
from aiaas.ingestion.parsers import parse_document
from aiaas.ingestion.search import search_index
from aiaas.ingestion.service import Upload, ingest_now
from aiaas.kit.clock import utcnow
from aiaas.kit.ids import new_id
from aiaas.migrations import runner
from aiaas.platform import Platform, build_platform
from aiaas.tenancy.service import NewTenant
from bench.harness import ROOT, cpu_model, save

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DIM = 384
CHUNKS_PER_DOCUMENT = 20
LABEL = "bench:hash384"


class HashEmbeddings:
    """A stand-in query embedder: a deterministic unit vector per text (no model download)."""

    kind = "bench"
    label = LABEL

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.vstack(rows)

    async def close(self) -> None:
        return None


def questions() -> list[str]:
    path = ROOT / "eval" / "retrieval" / "questions.jsonl"
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line]


def passages() -> list[tuple[str, str, list[str]]]:
    """(title, text, heading path) of every chunk of the demo help centre."""
    found = []
    for source in demo_sources():
        parsed = parse_document(source.data, filename=source.filename, title=source.title)
        for chunk in chunk_document(parsed):
            found.append((parsed.title, chunk.text, list(chunk.heading_path)))
    return found


async def _scratch_db() -> tuple[str, str, str]:
    import asyncpg

    suffix = secrets.token_hex(4)
    name, role = f"aiaas_bench_{suffix}", f"aiaas_bench_app_{suffix}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, role, f"postgresql://postgres@127.0.0.1:5432/{name}"


async def _drop_db(name: str, role: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    await conn.close()


def help_centre_uploads(copies: int) -> list[Upload]:
    """The demo help centre ``copies`` times, each copy marked so its content is new."""
    uploads = []
    for copy in range(copies):
        for source in demo_sources():
            if source.filename.endswith(".json"):
                if copy == 0:  # a JSON file takes no trailing marker
                    uploads.append(Upload(source.filename, source.data))
                continue
            marker = f"\n\nEdition {copy}.\n".encode()
            uploads.append(Upload(f"{copy}-{source.filename}", source.data + marker))
    return uploads


def pdf_manual_uploads(count: int, pages: int = 10) -> list[Upload]:
    """``count`` PDF manuals of ``pages`` pages of help-centre prose (needs fpdf2)."""
    from fpdf import FPDF

    texts = [text for _title, text, _heading in passages()]
    uploads = []
    for number in range(count):
        pdf = FPDF()
        pdf.set_font("helvetica", size=11)
        for page in range(pages):
            pdf.add_page()
            pdf.start_section(f"Chapter {page + 1}")
            body = " ".join(texts[(number * pages + page + k) % len(texts)] for k in range(4))
            pdf.multi_cell(0, 6, body.encode("latin-1", "replace").decode("latin-1"))
        uploads.append(Upload(f"manual-{number}.pdf", bytes(pdf.output())))
    return uploads


async def measure_ingestion(
    platform: Platform, tenant_id: UUID, uploads: list[Upload], batch: int = 10
) -> dict[str, Any]:
    """Upload in batches (one request of ``batch`` files), each file indexed in its transaction."""
    pages = chunks = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    for first in range(0, len(uploads), batch):
        for result in await ingest_now(platform, tenant_id, uploads[first : first + batch]):
            assert result.document.status == READY, result.document.error_reason
            pages += result.document.pages or 0
            chunks += result.document.chunk_count
    seconds = time.perf_counter() - started
    # This process's CPU time (the database server's is not included): on a shared, loaded
    # machine it says what the code costs when the wall clock mostly says how busy the machine was.
    cpu_seconds = time.process_time() - cpu_started
    return {
        "documents": len(uploads),
        "pages": pages,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "pages_per_second": round(pages / seconds, 1),
        "chunks_per_second": round(chunks / seconds, 1),
        "documents_per_second": round(len(uploads) / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 2),
        "pages_per_cpu_second": round(pages / cpu_seconds, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }


async def grow_corpus(
    platform: Platform, tenant_id: UUID, start: int, target: int, rng: np.random.Generator
) -> None:
    """Bulk-insert ready documents of CHUNKS_PER_DOCUMENT chunks until ``target`` chunks."""
    base = passages()
    vocabulary = [f"model{n}" for n in range(20_000)]
    now = utcnow()
    made = start
    while made < target:
        document_rows, chunk_rows = [], []
        for _ in range(min(250, (target - made) // CHUNKS_PER_DOCUMENT + 1)):
            document_id = new_id()
            document_rows.append(
                {
                    "id": document_id,
                    "tenant_id": tenant_id,
                    "filename": f"{document_id}.md",
                    "title": base[made % len(base)][0],
                    "title_given": True,
                    "collection": f"c{made % 7}",
                    "tags": [f"t{made % 11}"],
                    "status": READY,
                    "version": 1,
                    "indexed_version": 1,
                    "content_hash": document_id.hex,
                    "size_bytes": 10_000,
                    "chunk_count": CHUNKS_PER_DOCUMENT,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            vectors = rng.standard_normal((CHUNKS_PER_DOCUMENT, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            for position in range(CHUNKS_PER_DOCUMENT):
                _title, text, heading = base[(made + position) % len(base)]
                extra = " ".join(rng.choice(vocabulary, 3))
                chunk_text = f"{text} {extra}"
                chunk_rows.append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "document_id": document_id,
                        "version": 1,
                        "position": position,
                        "text": chunk_text,
                        "start_offset": 0,
                        "end_offset": len(chunk_text),
                        "heading_path": heading,
                        "token_count": 100,
                        "meta": {},
                        "embedding": vectors[position].tobytes(),
                        "embedding_model": LABEL,
                    }
                )
            made += CHUNKS_PER_DOCUMENT
        async with platform.db.transaction(tenant_id) as session:
            await session.execute(insert(Document), document_rows)
            await session.execute(insert(DocumentChunk), chunk_rows)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure_search(
    platform: Platform,
    tenant_id: UUID,
    queries: list[str],
    mode: str,
    collections: list[str] | None = None,
) -> dict[str, Any]:
    kb = platform.knowledge

    async def one(query: str) -> None:
        await search_index(
            kb,
            platform.db,
            tenant_id,
            query,
            k=5,
            mode=mode,  # type: ignore[arg-type]
            collections=collections,
        )

    for query in queries[:10]:  # warm up
        await one(query)
    timings = []
    cpu_started = time.process_time()
    for query in queries:
        started = time.perf_counter()
        await one(query)
        timings.append((time.perf_counter() - started) * 1000)
    # CPU of this process per query (all its threads, the database server's excluded): what a
    # search costs when an idle core is free, which the wall clock of a loaded machine hides.
    cpu_ms = (time.process_time() - cpu_started) * 1000 / len(queries)
    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(_percentile(timings, 0.99), 2),
        "mean_ms": round(statistics.fmean(timings), 2),
        "cpu_ms_per_query": round(cpu_ms, 2),
        "load_average": round(os.getloadavg()[0], 1),
    }


async def run(mode: str, sizes: list[int], copies: int) -> dict[str, Any]:
    scratch = await _scratch_db() if mode == "postgres" else None
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {}
        if scratch is not None:
            overrides = {"database_url": scratch[2], "database_app_role": scratch[1]}
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            env="test",
            data_dir=Path(tmp),
            telemetry={"log_level": "WARNING"},
            **overrides,
        )
        await asyncio.to_thread(runner.upgrade, settings)
        platform = build_platform(settings)
        await platform.start(events=False)
        try:
            tenants = [
                await platform.tenants.create(
                    NewTenant(
                        slug=f"bench-{secrets.token_hex(3)}",
                        name="Bench",
                        owner_email=f"owner-{n}@bench.example",
                        owner_password="bench-password-123",
                        plan="enterprise",
                    )
                )
                for n in range(2)
            ]
            result: dict[str, Any] = {
                "ingestion_help_centre": await measure_ingestion(
                    platform, tenants[0].id, help_centre_uploads(copies)
                ),
                "ingestion_pdf_manuals": await measure_ingestion(
                    platform, tenants[0].id, await asyncio.to_thread(pdf_manual_uploads, 20)
                ),
            }
            # The search corpus lives in its own tenant, every chunk with a vector.
            tenant = tenants[1]
            platform.knowledge.embeddings = HashEmbeddings()
            rng = np.random.default_rng(7)
            queries = questions()
            have = 0
            for size in sizes:
                await grow_corpus(platform, tenant.id, have, size, rng)
                have = size
                started = time.perf_counter()
                index = await platform.knowledge.indexes.get(platform.db, tenant.id, LABEL)
                build = time.perf_counter() - started
                result[f"search_{size}"] = {
                    "chunks": index.size,
                    "cold_build_seconds": round(build, 2),
                    "lexical": await measure_search(platform, tenant.id, queries, "lexical"),
                    "hybrid": await measure_search(platform, tenant.id, queries, "hybrid"),
                    # One collection of the seven: about 1/7 of the chunks may be returned.
                    "hybrid_one_collection": await measure_search(
                        platform, tenant.id, queries, "hybrid", collections=["c3"]
                    ),
                }
                print(mode, size, json.dumps(result[f"search_{size}"]), flush=True)
            return result
        finally:
            await platform.stop()
            if scratch is not None:
                await _drop_db(scratch[0], scratch[1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="embedded,postgres")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--copies", type=int, default=3, help="Copies of the demo help centre")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]  # --sizes "": ingestion only
    report: dict[str, Any] = {"cpu": cpu_model(), "results": {}}
    for mode in args.modes.split(","):
        report["results"][mode] = await run(mode, sizes, args.copies)
        for kind in ("ingestion_help_centre", "ingestion_pdf_manuals"):
            print(mode, kind, json.dumps(report["results"][mode][kind]), flush=True)
    path = save("ingestion_search", report)
    print(json.dumps(report, indent=2))
    print(f"saved {path}")


if __name__ == "__main__":
    asyncio.run(main())
