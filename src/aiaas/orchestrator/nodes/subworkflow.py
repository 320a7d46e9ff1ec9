"""``subworkflow``: run another of the tenant's workflows inside this one, sharing the state."""

from __future__ import annotations

from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import SubworkflowNode
from aiaas.orchestrator.state import RunState, View


class SubworkflowKind(SimpleKind[SubworkflowNode]):
    type = "subworkflow"

    def check(self, node: SubworkflowNode, scope: CheckScope) -> list[Problem]:
        if node.workflow == scope.spec.name:
            return [(("workflow",), "a workflow cannot run itself")]
        if scope.workflows is not None and node.workflow not in scope.workflows:
            return [(("workflow",), f"unknown workflow {node.workflow!r}")]
        return []

    def build(self, node: SubworkflowNode, env: BuildEnv) -> list[Step]:
        child = env.subworkflows[node.workflow]

        def start(view: View) -> RunState:
            return {
                "inputs": view.inputs,
                "vars": view.vars,
                "history": view.history,
                "replies": view.replies,
                "run": view.run,
            }

        if not child.may_pause:
            # Nothing in it can interrupt: its steps run right here, without a graph loop of
            # their own.
            async def run_inline(view: View, ctx: NodeContext) -> Outcome:
                return Outcome(state=await child.run_inline(start(view), ctx))

            return [Step("", run_inline, retries=False)]

        async def run_nested(view: View, ctx: NodeContext) -> Outcome:
            # The child graph inherits this run's config: checkpointer (so its interrupts resume
            # where they stopped), runtime context and recursion limit.
            final = await child.graph.ainvoke(start(view))
            return Outcome(state=dict(final))

        return [Step("", run_nested, retries=False, pauses=True)]
