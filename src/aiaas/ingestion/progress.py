"""Live progress of documents being processed, for the SSE stream.

The pipeline runs in one database transaction (so a crash never leaves a half index); its
intermediate stages (parsing, indexing) are therefore announced here, in process, while the
terminal states come from the database once committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from aiaas.kit.clock import utcnow

MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Progress:
    document_id: UUID
    version: int
    status: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: utcnow().isoformat())


class ProgressHub:
    """The latest stage of each document and a condition to wait for the next one."""

    def __init__(self) -> None:
        self._history: OrderedDict[UUID, list[Progress]] = OrderedDict()
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def latest(self, document_id: UUID) -> Progress | None:
        history = self._history.get(document_id)
        return history[-1] if history else None

    def history(self, document_id: UUID) -> list[Progress]:
        """The stages announced for the document's latest version, oldest first."""
        return list(self._history.get(document_id, ()))

    async def publish(self, progress: Progress) -> None:
        history = self._history.setdefault(progress.document_id, [])
        if history and history[-1].version != progress.version:
            history.clear()
        history.append(progress)
        self._history.move_to_end(progress.document_id)
        while len(self._history) > MAX_TRACKED:
            self._history.popitem(last=False)
        condition = self._condition()
        async with condition:
            condition.notify_all()

    def publish_soon(self, progress: Progress) -> None:
        """Publish from synchronous code running on the event loop (e.g. an after-commit hook)."""
        asyncio.get_running_loop().create_task(self.publish(progress))

    async def wait(self, seconds: float) -> None:
        """Return at the next publication, or after ``seconds``."""
        condition = self._condition()
        async with condition:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(condition.wait(), seconds)
