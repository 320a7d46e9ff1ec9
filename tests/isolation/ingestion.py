"""Ingestion objects for the cross-tenant matrix."""

from __future__ import annotations

import secrets
from uuid import UUID

from aiaas.ingestion.pipeline import process_document
from tests.conftest import Stack
from tests.factories import TenantHandle
from tests.isolation import Factory


async def _document(stack: Stack, owner: TenantHandle) -> str:
    """An indexed document (so its progress stream ends at once for the owner)."""
    made = await stack.client.post(
        "/api/v1/ingestion/documents",
        headers=owner.auth,
        files=[("files", ("a.md", f"# Secret {secrets.token_hex(4)}\n\nOnly for A.".encode()))],
    )
    assert made.status_code == 201, made.text
    document_id = made.json()["items"][0]["document"]["id"]
    async with stack.platform.db.transaction(UUID(owner.id)) as session:
        await process_document(stack.platform.knowledge, session, UUID(document_id), 1)
    return str(document_id)


FACTORIES: dict[str, Factory] = {"document_id": _document}
