"""Worker side of ingestion: the pipeline consumer of ``ingestion.document.uploaded``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events.consumer import Consumer
from aiaas.events.envelope import EventEnvelope, bus_subject
from aiaas.ingestion.events import DOCUMENT_UPLOADED, DocumentUploaded
from aiaas.ingestion.pipeline import process_document
from aiaas.ingestion.runtime import KnowledgeBase


class IngestionConsumer(Consumer):
    """Parses, chunks, embeds and indexes each uploaded version, in the event's transaction.

    The inbox makes a redelivery a no-op; a crash rolls back the half-done work and the event
    comes back, so a document is indexed exactly once or marked failed with a reason.
    """

    name = "ingestion_pipeline"

    def __init__(self, kb: KnowledgeBase, namespace: str) -> None:
        self.kb = kb
        self.subject_filter = bus_subject(namespace, DOCUMENT_UPLOADED)

    async def handle(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        payload = DocumentUploaded.model_validate(envelope.payload)
        await process_document(self.kb, session, payload.document_id, payload.version)
