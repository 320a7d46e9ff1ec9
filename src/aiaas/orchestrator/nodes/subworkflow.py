"""``subworkflow``: run another of the tenant's workflows inside this one, sharing the state."""

from __future__ import annotations

from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import SubworkflowNode


class SubworkflowKind(SimpleKind[SubworkflowNode]):
    type = "subworkflow"

    def check(self, node: SubworkflowNode, scope: CheckScope) -> list[Problem]:
        if node.workflow == scope.spec.name:
            return [(("workflow",), "a workflow cannot run itself")]
        if scope.workflows is not None and node.workflow not in scope.workflows:
            return [(("workflow",), f"unknown workflow {node.workflow!r}")]
        return []

    def build(self, node: SubworkflowNode, env: BuildEnv) -> list[Step]:
        # The called workflow's steps become part of the caller's graph, between an entering and
        # a returning step (``compiler._add_steps``, ``runtime.make_call``).
        raise RuntimeError("subworkflow nodes are compiled by the workflow compiler itself")
