"""Per-tenant storage quotas, read from the tenant's plan (``documents`` and ``document_bytes``)."""

from __future__ import annotations

from aiaas.config import PlanSettings
from aiaas.ingestion.repository import DocumentRepository
from aiaas.kit.errors import QuotaExceeded


async def check_quota(
    documents: DocumentRepository, plan: PlanSettings, *, new_documents: int, new_bytes: int
) -> None:
    """Raise ``QuotaExceeded`` (code ``quota_exceeded``) when the additions pass a plan limit."""
    count, used_bytes = await documents.usage()
    if new_documents and count + new_documents > plan.documents:
        raise QuotaExceeded(
            f"Your plan allows {plan.documents} documents; you have {count} and are adding "
            f"{new_documents}. Delete documents or upgrade the plan.",
            code="quota_exceeded",
            extra={"limit": "documents", "allowed": plan.documents, "used": count},
        )
    if new_bytes > 0 and used_bytes + new_bytes > plan.document_bytes:
        raise QuotaExceeded(
            f"Your plan allows {plan.document_bytes:,} bytes of documents; you use "
            f"{used_bytes:,} and are adding {new_bytes:,}. Delete documents or upgrade the plan.",
            code="quota_exceeded",
            extra={"limit": "document_bytes", "allowed": plan.document_bytes, "used": used_bytes},
        )
