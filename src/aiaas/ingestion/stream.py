"""Server-sent events of a document's progress: queued -> parsing -> indexing -> ready | failed.

Stages come from the in-process progress hub (where the pipeline runs in this process) and from
the database (terminal states, from any worker); each is sent once, never backwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aiaas.ingestion.models import FAILED, INDEXING, PARSING, QUEUED, READY, TERMINAL, Document
from aiaas.ingestion.repository import DocumentRepository

if TYPE_CHECKING:
    from aiaas.platform import Platform

ORDER = {QUEUED: 0, PARSING: 1, INDEXING: 2, READY: 3, FAILED: 3}
POLL_SECONDS = 0.5


def sse(event_id: int, name: str, data: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _document_state(document: Document) -> dict[str, Any]:
    state: dict[str, Any] = {
        "document_id": str(document.id),
        "version": document.version,
        "status": document.status,
    }
    if document.status == READY:
        state.update(chunks=document.chunk_count, pages=document.pages)
    if document.status == FAILED:
        state.update(code=document.error_code, reason=document.error_reason)
    return state


async def progress_events(
    platform: Platform, tenant_id: UUID, document_id: UUID, max_seconds: float
) -> AsyncIterator[bytes]:
    """Stream until the latest version is ready or failed, the document is gone, or ``max_seconds``."""
    hub = platform.knowledge.progress
    deadline = time.monotonic() + max_seconds
    sent = 0
    last: tuple[int, int] | None = None  # (version, stage order) of the last event sent
    while True:
        async with platform.db.transaction(tenant_id) as session:
            document = await DocumentRepository(session).get(document_id)
        if document is None:
            sent += 1
            yield sse(sent, "deleted", {"document_id": str(document_id)})
            return
        states: list[dict[str, Any]] = []
        if document.status not in TERMINAL:
            states.append(_document_state(document))
        for progress in hub.history(document_id):
            if progress.version == document.version and progress.status in (PARSING, INDEXING):
                states.append(
                    {
                        "document_id": str(document_id),
                        "version": progress.version,
                        "status": progress.status,
                        **progress.detail,
                    }
                )
        if document.status in TERMINAL:
            states.append(_document_state(document))
        for state in states:
            key = (int(state["version"]), ORDER[state["status"]])
            if last is not None and key <= last:
                continue
            last = key
            sent += 1
            yield sse(sent, "progress", state)
        if document.status in TERMINAL or time.monotonic() >= deadline:
            return
        await hub.wait(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
