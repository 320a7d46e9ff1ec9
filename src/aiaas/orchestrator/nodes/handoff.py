"""``handoff``: a human agent takes over.

Built as two graph steps so nothing is said twice: the first tells the customer and records the
request; the second waits in a LangGraph ``interrupt()`` and, on resume, takes the agent's answer
(sent to the customer) or a hand-back (the workflow continues without one).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiaas.orchestrator.context import NodeContext, WorkflowEvent
from aiaas.orchestrator.errors import NodeFailure
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import HandoffNode
from aiaas.orchestrator.spec.templates import parse_template, render
from aiaas.orchestrator.state import View


class HandoffResolution(BaseModel):
    """How an agent ends a handoff: ``answer`` (with the message for the customer) or ``hand_back``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["answer", "hand_back"]
    message: str = Field("", max_length=20_000)
    agent: str | None = Field(None, max_length=200)

    def model_post_init(self, _context: Any) -> None:
        if self.action == "answer" and not self.message.strip():
            raise ValueError("an answer needs a message")


class HandoffKind(SimpleKind[HandoffNode]):
    type = "handoff"

    def check(self, node: HandoffNode, scope: CheckScope) -> list[Problem]:
        return (
            scope.template(("reason",), node.reason)
            + scope.template(("message",), node.message)
            + scope.output(("output",), node.output, ["string"])
        )

    def build(self, node: HandoffNode, env: BuildEnv) -> list[Step]:
        reason = parse_template(node.reason)
        message = parse_template(node.message) if node.message else None
        workflow = env.spec.name

        async def announce(view: View, ctx: NodeContext) -> Outcome:
            scope = view.scope()
            request = {
                "workflow": workflow,
                "node": node.id,
                "reason": render(reason, scope).strip(),
                "priority": node.priority,
                "status": "requested",
            }
            said = render(message, scope).strip() if message else ""
            replies = [{"role": "assistant", "content": said, "node": node.id}] if said else []
            await ctx.publish(WorkflowEvent("handoff.requested", workflow, node.id, dict(request)))
            return Outcome(replies=replies, run={**view.run, "handoff": request})

        async def wait(view: View, ctx: NodeContext) -> Outcome:
            request = dict(view.run.get("handoff") or {})
            raw = interrupt({"type": "handoff", **request})
            try:
                resolution = HandoffResolution.model_validate(raw)
            except (ValidationError, ValueError) as exc:
                raise NodeFailure(f"invalid handoff resolution: {exc}") from None
            answered = resolution.action == "answer"
            request["status"] = "answered" if answered else "handed_back"
            request["agent"] = resolution.agent
            updates = {node.output: resolution.message if answered else ""} if node.output else {}
            replies = (
                [
                    {
                        "role": "agent",
                        "content": resolution.message,
                        "node": node.id,
                        "agent": resolution.agent,
                    }
                ]
                if answered
                else []
            )
            await ctx.publish(
                WorkflowEvent("handoff.resolved", workflow, node.id, {"status": request["status"]})
            )
            return Outcome(updates=updates, replies=replies, run={**view.run, "handoff": request})

        return [Step("", announce), Step(".wait", wait, counts=False, retries=False, pauses=True)]
