"""Search: tenant isolation, filters, the orchestrator's entry point and the demo help centre."""

from __future__ import annotations

from uuid import UUID

from aiaas.ingestion.demo_knowledge import demo_sources
from aiaas.ingestion.service import Upload, ingest_now, search_knowledge, seed_demo_knowledge
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.ingestion.support import DOCS, SEARCH, search


async def test_search_is_scoped_to_the_tenant(env: Stack) -> None:
    tenant_a = await make_tenant(env)
    tenant_b = await make_tenant(env)
    await ingest_now(
        env.platform,
        UUID(tenant_a.id),
        [Upload("secret.md", b"# Vault\n\nThe vault code is kept in the zephyr cabinet.")],
    )
    await ingest_now(
        env.platform,
        UUID(tenant_b.id),
        [Upload("other.md", b"# Tents\n\nPitch tents on flat ground.")],
    )
    assert (await search(env, tenant_a, "zephyr cabinet"))["hits"]
    assert (await search(env, tenant_b, "zephyr cabinet"))["hits"] == []
    assert await search_knowledge(env.platform, UUID(tenant_b.id), "vault code zephyr") == []
    chunks_b = (await env.client.get(DOCS, headers=tenant_b.auth)).json()["items"]
    assert [d["filename"] for d in chunks_b] == ["other.md"]


async def test_filters_and_the_orchestrator_entry_point(env: Stack) -> None:
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    await ingest_now(
        env.platform,
        tenant_id,
        [Upload("ship.md", b"# Shipping\n\nParcels ship from Reno within two days.")],
        collection="logistics",
        tags=["shipping"],
    )
    await ingest_now(
        env.platform,
        tenant_id,
        [Upload("ret.md", b"# Returns\n\nParcels can be returned within sixty days.")],
        collection="policies",
        tags=["returns"],
    )
    hits = await search_knowledge(env.platform, tenant_id, "parcels", k=5)
    assert len(hits) == 2
    for hit in hits:
        assert set(hit) >= {"text", "title", "id", "document_id", "url", "score", "citation"}
        assert hit["citation"]["document_id"] == hit["document_id"]
        assert hit["citation"]["chunk_id"] == hit["id"]
    only = await search_knowledge(env.platform, tenant_id, "parcels", collections=["policies"])
    assert [h["title"] for h in only] == ["Returns"]
    tagged = await search_knowledge(env.platform, tenant_id, "parcels", tags=["shipping"])
    assert [h["title"] for h in tagged] == ["Shipping"]
    dense = await env.client.post(
        SEARCH, headers=tenant.auth, json={"query": "parcels", "mode": "dense"}
    )
    assert dense.status_code == 422 and dense.json()["code"] == "dense_search_unavailable"


async def test_demo_help_centre_seeds_once_and_answers(env: Stack) -> None:
    tenant = await make_tenant(env)
    tenant_id = UUID(tenant.id)
    added = await seed_demo_knowledge(env.platform, tenant_id)
    assert added == len(demo_sources()) >= 30
    assert await seed_demo_knowledge(env.platform, tenant_id) == 0
    listed = (await env.client.get(f"{DOCS}?limit=200&status=ready", headers=tenant.auth)).json()
    assert len(listed["items"]) == added
    found = await search(env, tenant, "how long does standard shipping take to new york")
    assert found["answerable"] is True
    assert "shipping" in found["hits"][0]["title"].lower()
    nonsense = await search(env, tenant, "quantum chromodynamics lattice gauge")
    assert nonsense["answerable"] is False
