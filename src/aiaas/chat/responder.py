"""A turn engine that answers straight from the language model, for platforms without workflows.

It speaks the orchestrator's event vocabulary (``token``, ``message``, ``node.completed``,
``run.finished``) so chat treats both alike; it never hands off, since handoff is a workflow node.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiaas.backends.llm.types import ChatMessage, ChatRequest, LLMProvider
from aiaas.orchestrator.context import WorkflowEvent

WORKFLOW = "direct"
SYSTEM_PROMPT = "You are a helpful, concise customer-support assistant."


class DirectLLMEngine:
    """Implements :class:`aiaas.chat.ports.TurnEngine` with one model call per turn."""

    def __init__(self, llm: LLMProvider, *, system_prompt: str = SYSTEM_PROMPT) -> None:
        self.llm = llm
        self.system_prompt = system_prompt

    async def stream_turn(
        self,
        tenant_id: str,
        conversation_id: str,
        message: str,
        *,
        workflow: str | None = None,
        model_tier: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[WorkflowEvent]:
        history = list((context or {}).get("history") or [])
        messages = [ChatMessage(role="system", content=self.system_prompt)]
        for item in history:
            content = str(item.get("content", ""))
            if item.get("role") == "customer":
                messages.append(ChatMessage(role="user", content=content))
            else:
                messages.append(ChatMessage(role="assistant", content=content))
        messages.append(ChatMessage(role="user", content=message))
        request = ChatRequest(messages=tuple(messages), tier=model_tier)
        started = time.perf_counter()
        yield WorkflowEvent("node.started", WORKFLOW, "answer", {"type": "llm"})
        result = None
        async for delta in self.llm.stream(request):
            if delta.text:
                yield WorkflowEvent("token", WORKFLOW, "answer", {"text": delta.text})
            if delta.result is not None:
                result = delta.result
        if result is None:
            raise RuntimeError("the model stream ended without a result")
        citations = [
            {"index": c.index, "title": c.title, "id": c.id, "url": c.url} for c in result.citations
        ]
        reply = {"role": "assistant", "content": result.content, "citations": citations}
        yield WorkflowEvent("message", WORKFLOW, "answer", reply)
        usage = {
            "input_tokens": result.usage.input_tokens,
            "output_tokens": result.usage.output_tokens,
            "cost_micros": result.cost_micros,
            "llm_calls": 1,
        }
        millis = int((time.perf_counter() - started) * 1000)
        yield WorkflowEvent(
            "node.completed", WORKFLOW, "answer", {"ms": millis, "model": result.model, **usage}
        )
        yield WorkflowEvent(
            "run.finished",
            WORKFLOW,
            None,
            {"status": "completed", "replies": [reply], "usage": usage, "model": result.model},
        )

    async def resume(
        self, tenant_id: str, conversation_id: str, resolution: Mapping[str, Any]
    ) -> None:
        return None

    async def pending_handoff(self, tenant_id: str, conversation_id: str) -> None:
        return None
