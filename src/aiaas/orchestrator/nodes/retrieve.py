"""``retrieve``: search the tenant's knowledge base and keep the passages in the state."""

from __future__ import annotations

from typing import Any

from aiaas.backends.llm.local.text import best_coverage
from aiaas.orchestrator.context import NodeContext, passage_dict
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import RetrieveNode
from aiaas.orchestrator.spec.templates import parse_template, render
from aiaas.orchestrator.state import View


class RetrieveKind(SimpleKind[RetrieveNode]):
    type = "retrieve"

    def check(self, node: RetrieveNode, scope: CheckScope) -> list[Problem]:
        return (
            scope.template(("query",), node.query)
            + scope.output(("output",), node.output, ["list"])
            + scope.output(("confidence",), node.confidence, ["number"])
        )

    def build(self, node: RetrieveNode, env: BuildEnv) -> list[Step]:
        query_template = parse_template(node.query)

        async def run(view: View, ctx: NodeContext) -> Outcome:
            query = render(query_template, view.scope()).strip()
            hits = [passage_dict(hit) for hit in await ctx.search(query, node.k)] if query else []
            passages = [p for p in hits if p["text"]][: node.k]
            if node.min_score is not None:
                passages = [p for p in passages if (p["score"] or 0.0) >= node.min_score]
            updates: dict[str, Any] = {node.output: passages}
            if node.confidence:
                texts = [f"{p['title']}. {p['text']}" for p in passages]
                updates[node.confidence] = round(best_coverage(query, texts), 4)
            return Outcome(updates=updates)

        return [Step("", run)]
