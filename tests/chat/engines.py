"""A scripted turn engine speaking the orchestrator's event vocabulary (the LLM edge is faked)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiaas.orchestrator.context import WorkflowEvent

WF = "scripted"


@dataclass
class ScriptedEngine:
    """Answers ``echo: <message>`` word by word; a message containing ``human`` hands off."""

    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    resumed: list[dict[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None

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
        self.calls.append(message)
        if self.fail_with is not None:
            raise self.fail_with
        yield WorkflowEvent("node.started", WF, "answer", {"type": "llm"})
        if "human" in message:
            request = {"reason": "customer asked for a human", "status": "requested"}
            self.pending[f"{tenant_id}:{conversation_id}"] = request
            yield WorkflowEvent("handoff.requested", WF, "handoff", request)
            yield WorkflowEvent(
                "message", WF, "handoff", {"role": "assistant", "content": "Connecting you."}
            )
            yield WorkflowEvent("run.finished", WF, None, {"status": "waiting_for_agent"})
            return
        reply = f"echo: {message}"
        for word in reply.split(" "):
            yield WorkflowEvent("token", WF, "answer", {"text": word + " "})
        yield WorkflowEvent(
            "message",
            WF,
            "answer",
            {"role": "assistant", "content": reply, "citations": [{"index": 1, "title": "FAQ"}]},
        )
        yield WorkflowEvent(
            "node.completed",
            WF,
            "answer",
            {"input_tokens": 11, "output_tokens": 7, "cost_micros": 42, "model": "gpt-4o-mini"},
        )
        yield WorkflowEvent("run.finished", WF, None, {"status": "completed"})

    async def pending_handoff(self, tenant_id: str, conversation_id: str) -> Any:
        return self.pending.get(f"{tenant_id}:{conversation_id}")

    async def resume(
        self, tenant_id: str, conversation_id: str, resolution: Mapping[str, Any]
    ) -> AsyncIterator[WorkflowEvent]:
        self.pending.pop(f"{tenant_id}:{conversation_id}", None)
        self.resumed.append(dict(resolution))
        if resolution["action"] == "answer":
            yield WorkflowEvent(
                "message", WF, "handoff", {"role": "agent", "content": resolution["message"]}
            )
        else:
            yield WorkflowEvent(
                "message", WF, "after", {"role": "assistant", "content": "Back with the bot."}
            )
        yield WorkflowEvent("run.finished", WF, None, {"status": "completed"})
