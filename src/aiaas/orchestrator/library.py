"""The workflows the platform ships (``aiaas/workflows/*.yaml``), loaded and checked."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from aiaas.orchestrator.compiler import load_workflow
from aiaas.orchestrator.spec.models import WorkflowSpec

BUILTIN_TOOLS = frozenset({"lookup_order", "create_lead", "create_ticket"})
"""Tools the shipped workflows call; a tenant must register them to use those workflows."""
DEFAULT_WORKFLOW = "customer_support"


def shipped_sources() -> dict[str, str]:
    """The YAML text of every shipped workflow, by file stem."""
    folder = resources.files("aiaas") / "workflows"
    return {
        entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


@lru_cache(maxsize=1)
def shipped_workflows(tools: frozenset[str] = BUILTIN_TOOLS) -> dict[str, WorkflowSpec]:
    """Every shipped workflow, checked against ``tools`` and each other; keyed by name."""
    sources = shipped_sources()
    return {
        spec.name: spec
        for spec in (
            load_workflow(text, tools=tools, workflows=set(sources)) for text in sources.values()
        )
    }
