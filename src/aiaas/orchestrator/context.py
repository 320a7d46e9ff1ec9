"""What nodes need from the outside, injected per run: the LLM, knowledge search, tools, event sink."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiaas.backends.llm.types import LLMProvider
from aiaas.kit.clock import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkflowEvent:
    """Something that happened during a run, for streaming to the client and for traces.

    Types: ``node.started``, ``node.completed``, ``node.failed``, ``token`` (a streamed text delta),
    ``message`` (a message for the customer), ``tool.called``, ``tool.completed``,
    ``handoff.requested``, ``handoff.resolved``, ``run.finished``.
    """

    type: str
    workflow: str
    node: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: utcnow().isoformat())

    def to_dict(self) -> dict[str, Any]:
        """The event as one flat mapping; a data key named ``type`` (a node's type) becomes
        ``node_type`` so it never hides the event's own type."""
        data = dict(self.data)
        if "type" in data:
            data["node_type"] = data.pop("type")
        return {
            **data,
            "type": self.type,
            "workflow": self.workflow,
            "node": self.node,
            "at": self.at,
        }


SearchFn = Callable[[str, int], Awaitable[Sequence[Any]]]
"""``search(query, k)``: passages as mappings or objects with ``text`` and optional ``title``,
``id``, ``url`` and ``score``; ranked best first."""

CallToolFn = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""``call_tool(name, args)``: the tool's JSON-like result; raises on failure. Runs with the caller's
tenant, never one named by the workflow."""

EmitFn = Callable[[WorkflowEvent], Awaitable[None] | None]


async def _no_search(_query: str, _k: int) -> Sequence[Any]:
    return []


async def _no_tools(name: str, _args: dict[str, Any]) -> Any:
    raise LookupError(f"no tool runner is configured (tool {name!r})")


@dataclass
class NodeContext:
    """The run's collaborators (LangGraph runtime context; never checkpointed)."""

    llm: LLMProvider
    search: SearchFn = _no_search
    call_tool: CallToolFn = _no_tools
    emit: EmitFn | None = None
    tenant_id: str | None = None
    conversation_id: str | None = None
    model_tier: str | None = None
    """Tier chosen by the router for this turn; used by llm/classify nodes that name neither."""

    async def publish(self, event: WorkflowEvent) -> None:
        """Send ``event`` to the sink; a failing sink is logged, never fails the run."""
        if self.emit is None:
            return
        try:
            result = self.emit(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # the client going away must not break the workflow
            log.warning("workflow event sink failed", exc_info=True)


def passage_dict(item: Any) -> dict[str, Any]:
    """A search hit (mapping or object) as ``{id, title, text, url, score}``."""
    get = (
        item.get
        if isinstance(item, Mapping)
        else (lambda key, default=None: getattr(item, key, default))
    )
    score = get("score", None)
    return {
        "id": None if get("id", None) is None else str(get("id", None)),
        "title": str(get("title", "") or ""),
        "text": str(get("text", "") or ""),
        "url": get("url", None),
        "score": float(score) if isinstance(score, int | float) else None,
    }
