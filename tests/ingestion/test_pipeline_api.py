"""Mixed uploads through the real pipeline (relay + consumer), failures, replace and delete."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import make_tenant
from tests.ingestion.samples import HTML_PAGE, encrypt_pdf, make_docx, make_pdf
from tests.ingestion.support import (
    CSV_FAQ,
    DOCS,
    MARKDOWN,
    running_events,
    search,
    upload,
    wait_settled,
)


async def test_mixed_batch_becomes_ready_and_searchable(env: Stack) -> None:
    tenant = await make_tenant(env)
    files = [
        ("guide.pdf", make_pdf(), "application/pdf"),
        (
            "policy.docx",
            make_docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("page.html", HTML_PAGE, "text/html"),
        ("returns.md", MARKDOWN, "text/markdown"),
        ("faq.csv", CSV_FAQ, "text/csv"),
    ]
    async with running_events(env):
        items = await upload(env, tenant, files, collection="help", tags="policies,faq")
        assert [i["duplicate"] for i in items] == [False] * 5
        assert {i["document"]["status"] for i in items} == {"queued"}
        settled = [await wait_settled(env, tenant, i["document"]["id"]) for i in items]
    assert [d["status"] for d in settled] == ["ready"] * 5, settled
    pdf = settled[0]
    assert pdf["pages"] == 3 and pdf["document_type"] == "pdf" and pdf["chunk_count"] >= 3
    assert all(d["indexed_version"] == 1 and d["chunk_count"] > 0 for d in settled)
    assert settled[4]["document_type"] == "faq_csv"

    found = await search(env, tenant, "do you ship to canada")
    top = found["hits"][0]
    assert top["document_id"] == settled[4]["id"]
    assert "Canada" in top["text"]
    citation = top["citation"]
    assert citation["document_id"] == settled[4]["id"] and citation["version"] == 1
    assert citation["end"] > citation["start"] >= 0
    assert found["mode"] == "lexical" and isinstance(found["answerable"], bool)

    chunks = await env.client.get(f"{DOCS}/{pdf['id']}/chunks", headers=tenant.auth)
    pages = {c["page"] for c in chunks.json()["items"]}
    assert pages == {1, 2, 3}


async def test_failures_carry_a_readable_reason(env: Stack) -> None:
    tenant = await make_tenant(env)
    async with running_events(env):
        items = await upload(
            env,
            tenant,
            [
                ("locked.pdf", encrypt_pdf(make_pdf(), user_password="pw"), "application/pdf"),
                ("blank.txt", b"   \n\n  ", "text/plain"),
                ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png"),
            ],
        )
        settled = [await wait_settled(env, tenant, i["document"]["id"]) for i in items]
    assert [d["status"] for d in settled] == ["failed"] * 3
    assert [d["error_code"] for d in settled] == [
        "encrypted_pdf",
        "empty_document",
        "unsupported_document_type",
    ]
    assert all(d["error_reason"] for d in settled)
    listed = await env.client.get(f"{DOCS}?status=failed", headers=tenant.auth)
    assert len(listed.json()["items"]) == 3


async def test_replace_makes_a_new_version_and_delete_removes_from_search(env: Stack) -> None:
    tenant = await make_tenant(env)
    async with running_events(env):
        (item,) = await upload(env, tenant, [("returns.md", MARKDOWN, "text/markdown")])
        doc_id = item["document"]["id"]
        await wait_settled(env, tenant, doc_id)
        assert (await search(env, tenant, "return window refund"))["hits"]

        new = MARKDOWN.replace(b"60 days", b"90 days") + b"\n## Exchanges\nSwap sizes for free.\n"
        replaced = await env.client.put(
            f"{DOCS}/{doc_id}", headers=tenant.auth, files={"file": ("returns.md", new)}
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["document"]["version"] == 2
        ready = await wait_settled(env, tenant, doc_id, version=2)
    assert ready["status"] == "ready" and ready["indexed_version"] == 2
    hits = (await search(env, tenant, "swap sizes exchanges"))["hits"]
    assert hits and hits[0]["citation"]["version"] == 2
    chunks = (await env.client.get(f"{DOCS}/{doc_id}/chunks", headers=tenant.auth)).json()
    assert {c["version"] for c in chunks["items"]} == {2}

    deleted = await env.client.delete(f"{DOCS}/{doc_id}", headers=tenant.auth)
    assert deleted.status_code == 204
    assert (await search(env, tenant, "swap sizes exchanges"))["hits"] == []
    assert (await search(env, tenant, "return window refund"))["hits"] == []
    gone = await env.client.get(f"{DOCS}/{doc_id}", headers=tenant.auth)
    assert gone.status_code == 404 and gone.json()["code"] == "document_not_found"
