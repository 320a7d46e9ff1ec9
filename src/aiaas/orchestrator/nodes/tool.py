"""``tool``: call a registered tool with arguments computed from the state."""

from __future__ import annotations

import json
from typing import Any

from aiaas.orchestrator.context import NodeContext, WorkflowEvent
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.expressions import compile_expression, evaluate
from aiaas.orchestrator.spec.nodes import ToolNode
from aiaas.orchestrator.state import View


def json_safe(value: Any) -> Any:
    """A tool result as plain JSON data (what the checkpointer and expressions can hold)."""
    return json.loads(json.dumps(value, default=str))


class ToolKind(SimpleKind[ToolNode]):
    type = "tool"

    def check(self, node: ToolNode, scope: CheckScope) -> list[Problem]:
        problems: list[Problem] = []
        if scope.tools is not None and node.tool not in scope.tools:
            available = ", ".join(sorted(scope.tools)) or "none"
            problems.append((("tool",), f"unknown tool {node.tool!r} (available: {available})"))
        for name, expression in node.args.items():
            problems += scope.expression(("args", name), expression)
        kinds = ["string", "number", "integer", "boolean", "list", "object"]
        return problems + scope.output(("output",), node.output, kinds)

    def build(self, node: ToolNode, env: BuildEnv) -> list[Step]:
        for expression in node.args.values():
            compile_expression(expression)
        workflow = env.spec.name

        async def run(view: View, ctx: NodeContext) -> Outcome:
            scope = view.scope()
            args = {name: evaluate(expression, scope) for name, expression in node.args.items()}
            await ctx.publish(WorkflowEvent("tool.called", workflow, node.id, {"tool": node.tool}))
            result = json_safe(await ctx.call_tool(node.tool, args))
            await ctx.publish(
                WorkflowEvent("tool.completed", workflow, node.id, {"tool": node.tool})
            )
            return Outcome(updates={node.output: result} if node.output else {})

        return [Step("", run)]
