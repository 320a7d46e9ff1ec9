"""Documents API: duplicates, listing with filters and cursors, catalogue fields, quotas."""

from __future__ import annotations

from uuid import UUID

import pytest

from aiaas.config import PlanSettings
from aiaas.ingestion.service import DocumentService, Upload
from aiaas.kit.errors import QuotaExceeded
from tests.conftest import Stack
from tests.factories import make_tenant
from tests.ingestion.support import DOCS, upload


def _note(i: int) -> tuple[str, bytes, str]:
    return (f"note-{i}.txt", f"Note number {i} about tents.".encode(), "text/plain")


async def test_duplicates_are_detected_by_content_hash(env: Stack) -> None:
    tenant = await make_tenant(env)
    first = await upload(env, tenant, [_note(1), _note(1)])
    assert [i["duplicate"] for i in first] == [False, True]
    assert first[0]["document"]["id"] == first[1]["document"]["id"]
    again = await upload(env, tenant, [("renamed.txt", _note(1)[1], "text/plain")])
    assert again[0]["duplicate"] and again[0]["document"]["id"] == first[0]["document"]["id"]
    listed = (await env.client.get(DOCS, headers=tenant.auth)).json()
    assert len(listed["items"]) == 1


async def test_list_filters_and_cursor_pages(env: Stack) -> None:
    tenant = await make_tenant(env)
    await upload(env, tenant, [_note(i) for i in range(5)], collection="tents", tags="gear")
    await upload(env, tenant, [_note(9)], collection="boots", tags=["footwear", "Gear"])
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = (await env.client.get(DOCS + query, headers=tenant.auth)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    by_collection = (await env.client.get(f"{DOCS}?collection=boots", headers=tenant.auth)).json()
    assert [d["filename"] for d in by_collection["items"]] == ["note-9.txt"]
    by_tag = (await env.client.get(f"{DOCS}?tag=footwear", headers=tenant.auth)).json()
    assert [d["tags"] for d in by_tag["items"]] == [["footwear", "gear"]]
    assert len((await env.client.get(f"{DOCS}?tag=gear", headers=tenant.auth)).json()["items"]) == 6
    assert (await env.client.get(f"{DOCS}?tag=gea", headers=tenant.auth)).json()["items"] == []
    queued = (await env.client.get(f"{DOCS}?status=queued", headers=tenant.auth)).json()
    assert len(queued["items"]) == 6
    assert (await env.client.get(f"{DOCS}?status=ready", headers=tenant.auth)).json()["items"] == []
    collections = (
        await env.client.get("/api/v1/ingestion/collections", headers=tenant.auth)
    ).json()
    assert collections["items"] == [
        {"name": "boots", "documents": 1},
        {"name": "tents", "documents": 5},
    ]
    tags = (await env.client.get("/api/v1/ingestion/tags", headers=tenant.auth)).json()
    assert tags["items"] == [{"name": "footwear", "documents": 1}, {"name": "gear", "documents": 6}]


async def test_patch_changes_catalogue_fields(env: Stack) -> None:
    tenant = await make_tenant(env)
    (item,) = await upload(env, tenant, [_note(1)])
    doc_id = item["document"]["id"]
    changed = await env.client.patch(
        f"{DOCS}/{doc_id}",
        headers=tenant.auth,
        json={
            "title": "Tent care",
            "collection": "care",
            "tags": ["Tents"],
            "url": "https://x.test",
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["title"], body["collection"], body["tags"], body["url"]) == (
        "Tent care",
        "care",
        ["tents"],
        "https://x.test",
    )
    bad = await env.client.patch(f"{DOCS}/{doc_id}", headers=tenant.auth, json={"tags": ["no;way"]})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_tag"


async def test_bad_uploads_are_refused_clearly(env: Stack) -> None:
    tenant = await make_tenant(env)
    none = await env.client.post(DOCS, headers=tenant.auth, data={"collection": "x"})
    assert none.status_code == 422
    two_titles = await env.client.post(
        DOCS,
        headers=tenant.auth,
        files=[("files", ("a.txt", b"aaa")), ("files", ("b.txt", b"bbb"))],
        data={"title": "One title"},
    )
    assert two_titles.status_code == 422 and two_titles.json()["code"] == "title_needs_one_file"
    no_file = await env.client.put(f"{DOCS}/{UUID(int=5)}", headers=tenant.auth)
    assert no_file.status_code == 404
    reader = await make_tenant(env, scopes=["knowledge:read"])
    refused = await env.client.post(
        DOCS, headers=reader.key_auth, files=[("files", ("a.txt", b"text"))]
    )
    assert refused.status_code == 403


async def test_document_quota_from_the_plan(env: Stack) -> None:
    tenant = await make_tenant(env, plan="tiny")  # tiny: 3 documents
    await upload(env, tenant, [_note(1), _note(2)])
    over = await env.client.post(
        DOCS,
        headers=tenant.auth,
        files=[("files", _note(3)), ("files", _note(4))],
    )
    assert over.status_code == 429, over.text
    problem = over.json()
    assert problem["code"] == "quota_exceeded" and problem["limit"] == "documents"
    assert "3 documents" in problem["detail"]
    # a duplicate costs nothing, and the last free slot still works
    assert (await upload(env, tenant, [_note(1), _note(3)]))[1]["duplicate"] is False


async def test_byte_quota_from_the_plan(env: Stack) -> None:
    tenant = await make_tenant(env)
    plan = PlanSettings(documents=10, document_bytes=100)
    async with env.platform.db.transaction(UUID(tenant.id)) as session:
        service = DocumentService(session, env.platform.knowledge, plan)
        await service.upload([Upload("a.txt", b"x" * 60)])
        with pytest.raises(QuotaExceeded) as caught:
            await service.upload([Upload("b.txt", b"y" * 60)])
    assert caught.value.extra["limit"] == "document_bytes"
