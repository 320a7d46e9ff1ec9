"""``subworkflow``: run another of the tenant's workflows inside this one, sharing the state."""

from __future__ import annotations

from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import SubworkflowNode
from aiaas.orchestrator.state import View


class SubworkflowKind(SimpleKind[SubworkflowNode]):
    type = "subworkflow"

    def check(self, node: SubworkflowNode, scope: CheckScope) -> list[Problem]:
        if node.workflow == scope.spec.name:
            return [(("workflow",), "a workflow cannot run itself")]
        if scope.workflows is not None and node.workflow not in scope.workflows:
            return [(("workflow",), f"unknown workflow {node.workflow!r}")]
        return []

    def build(self, node: SubworkflowNode, env: BuildEnv) -> list[Step]:
        child = env.subgraphs[node.workflow]

        async def run(view: View, ctx: NodeContext) -> Outcome:
            # The child graph inherits this run's config: checkpointer (so its interrupts resume
            # where they stopped), runtime context and recursion limit.
            final = await child.ainvoke(
                {
                    "inputs": view.inputs,
                    "vars": view.vars,
                    "history": view.history,
                    "replies": view.replies,
                    "run": view.run,
                }
            )
            return Outcome(state=dict(final))

        return [Step("", run, retries=False)]
