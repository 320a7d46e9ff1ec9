"""``branch``: go to the first case whose condition holds, else to the default."""

from __future__ import annotations

from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, Step
from aiaas.orchestrator.spec.nodes import BranchNode
from aiaas.orchestrator.state import View


class BranchKind:
    type = "branch"

    def check(self, node: BranchNode, scope: CheckScope) -> list[Problem]:
        problems: list[Problem] = []
        for index, case in enumerate(node.cases):
            problems += scope.expression(("cases", index, "when"), case.when)
        return problems

    def targets(self, node: BranchNode) -> list[tuple[tuple[str | int, ...], str, str | None]]:
        found: list[tuple[tuple[str | int, ...], str, str | None]] = [
            (("cases", index, "to"), case.to, case.when) for index, case in enumerate(node.cases)
        ]
        if node.default:
            found.append((("default",), node.default, None))
        return found

    def build(self, node: BranchNode, env: BuildEnv) -> list[Step]:
        async def run(view: View, ctx: NodeContext) -> Outcome:
            return Outcome()

        return [Step("", run)]
