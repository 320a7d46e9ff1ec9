"""``set``: assign state fields from expressions, in order (module named for the verb)."""

from __future__ import annotations

from typing import Any

from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.expressions import compile_expression, evaluate
from aiaas.orchestrator.spec.models import coerce
from aiaas.orchestrator.spec.nodes import SetNode
from aiaas.orchestrator.state import View


class SetKind(SimpleKind[SetNode]):
    type = "set"

    def check(self, node: SetNode, scope: CheckScope) -> list[Problem]:
        problems: list[Problem] = []
        for name, expression in node.assign.items():
            if name not in scope.fields:
                problems.append((("assign", name), f"unknown state field {name!r}"))
            problems += scope.expression(("assign", name), expression)
        return problems

    def build(self, node: SetNode, env: BuildEnv) -> list[Step]:
        for expression in node.assign.values():
            compile_expression(expression)
        fields = env.spec.state

        async def run(view: View, ctx: NodeContext) -> Outcome:
            current = dict(view.vars)
            updates: dict[str, Any] = {}
            for name, expression in node.assign.items():
                value = evaluate(expression, {**view.scope(), "state": current})
                try:
                    value = coerce(fields[name].type, value)
                except TypeError as exc:
                    raise TypeError(f"assign.{name}: {exc}") from None
                current[name] = updates[name] = value
            return Outcome(updates=updates)

        return [Step("", run)]
