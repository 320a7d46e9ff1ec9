"""``respond``: send a message to the customer."""

from __future__ import annotations

from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import RespondNode
from aiaas.orchestrator.spec.templates import parse_template, render
from aiaas.orchestrator.state import View


class RespondKind(SimpleKind[RespondNode]):
    type = "respond"

    def check(self, node: RespondNode, scope: CheckScope) -> list[Problem]:
        return scope.template(("message",), node.message)

    def build(self, node: RespondNode, env: BuildEnv) -> list[Step]:
        template = parse_template(node.message)

        async def run(view: View, ctx: NodeContext) -> Outcome:
            text = render(template, view.scope()).strip()
            replies = [{"role": "assistant", "content": text, "node": node.id}] if text else []
            return Outcome(replies=replies)

        return [Step("", run)]
