"""Node types of the workflow DSL: one module each, looked up through a typed registry."""

from __future__ import annotations

from typing import Any

from aiaas.orchestrator.nodes.assign import SetKind
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, NodeKind, Outcome, Step
from aiaas.orchestrator.nodes.branch import BranchKind
from aiaas.orchestrator.nodes.classify import ClassifyKind
from aiaas.orchestrator.nodes.handoff import HandoffKind, HandoffResolution
from aiaas.orchestrator.nodes.llm import LLMKind
from aiaas.orchestrator.nodes.respond import RespondKind
from aiaas.orchestrator.nodes.retrieve import RetrieveKind
from aiaas.orchestrator.nodes.subworkflow import SubworkflowKind
from aiaas.orchestrator.nodes.tool import ToolKind
from aiaas.orchestrator.spec.nodes import NODE_TYPES, NodeBase

REGISTRY: dict[str, NodeKind[Any]] = {
    kind.type: kind
    for kind in (
        LLMKind(),
        RetrieveKind(),
        ToolKind(),
        ClassifyKind(),
        BranchKind(),
        SetKind(),
        RespondKind(),
        HandoffKind(),
        SubworkflowKind(),
    )
}
assert set(REGISTRY) == set(NODE_TYPES), "every DSL node type needs an implementation"


def kind_for(node: NodeBase) -> NodeKind[Any]:
    """The implementation of ``node``'s type."""
    return REGISTRY[node.type]  # type: ignore[attr-defined]


__all__ = [
    "REGISTRY",
    "BuildEnv",
    "CheckScope",
    "HandoffResolution",
    "NodeKind",
    "Outcome",
    "Step",
    "kind_for",
]
