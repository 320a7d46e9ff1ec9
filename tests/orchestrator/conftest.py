"""Fixtures for workflow tests: the local model, a small knowledge base and recording tools.

Search and tools are the edge of the world for the orchestrator, so they are plain fakes here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from aiaas.backends.llm import LocalProvider
from aiaas.orchestrator.compiler import CompiledWorkflow, WorkflowCompiler, load_workflow
from aiaas.orchestrator.context import NodeContext, WorkflowEvent
from aiaas.orchestrator.engine import TurnResult, WorkflowEngine
from aiaas.orchestrator.spec.models import WorkflowSpec

KNOWLEDGE = [
    {"id": "kb-returns", "title": "Returns policy", "score": 0.9, "text": (
        "You can return any item within 30 days of delivery. Items must be unused and in their original "
        "packaging. Refunds are issued to the original payment method within 5 business days.")},
    {"id": "kb-shipping", "title": "Shipping times", "score": 0.8, "text": (
        "Standard shipping takes 3 to 5 business days. Express shipping takes 1 to 2 business days "
        "and costs $15. We ship to the United States and Canada.")},
    {"id": "kb-warranty", "title": "Warranty", "score": 0.7, "text": (
        "All tents and backpacks carry a two-year warranty against manufacturing defects.")},
]  # fmt: skip


async def search_knowledge(query: str, k: int) -> list[dict[str, Any]]:
    """Passages sharing a content word with the query, best first (like a lexical index)."""
    words = {w.strip("?.,!").lower() for w in query.split() if len(w) > 3}
    hits = [
        p for p in KNOWLEDGE if words & {w.strip(".,$").lower() for w in str(p["text"]).split()}
    ]
    return hits[:k]


@dataclass
class Tools:
    """Recording tool runner with scripted behaviour per tool name."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "A-12345": {"status": "shipped", "carrier": "UPS", "eta": "2025-03-14"},
    })  # fmt: skip

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((name, dict(args)))
        if self.delay.get(name):
            await asyncio.sleep(self.delay[name])
        if self.failures.get(name, 0) > 0:
            self.failures[name] -= 1
            raise ConnectionError(f"{name} is down")
        if name == "lookup_order":
            return self.orders.get(str(args.get("order_id")), {"found": False})
        if name == "create_lead":
            return {"id": f"lead-{len(self.calls)}", "status": "new"}
        if name == "create_ticket":
            return {"id": f"T-{1000 + len(self.calls)}", "priority": args.get("priority")}
        if name == "echo":
            return {"echo": args}
        raise LookupError(f"unknown tool {name}")


@dataclass
class Harness:
    """One tenant's engine, compiler and collaborators."""

    tools: Tools
    events: list[WorkflowEvent]
    compiler: WorkflowCompiler
    engine: WorkflowEngine
    tenant: str = "tenant-a"
    llm: Any = field(default_factory=LocalProvider)

    def context(self, **changes: Any) -> NodeContext:
        base = NodeContext(llm=self.llm, search=search_knowledge, call_tool=self.tools,
                           emit=self.events.append, tenant_id=self.tenant)  # fmt: skip
        for key, value in changes.items():
            setattr(base, key, value)
        return base

    def compile(
        self, spec: WorkflowSpec | str, workflows: dict[str, WorkflowSpec] | None = None
    ) -> CompiledWorkflow:
        if isinstance(spec, str):
            spec = load_workflow(spec)
        return self.compiler.get(self.tenant, spec, workflows=workflows or {})

    async def turn(
        self, workflow: CompiledWorkflow, message: str, conversation: str = "c1", **kw: Any
    ) -> TurnResult:
        return await self.engine.run_turn(workflow, conversation_id=conversation, message=message,
                                          context=self.context(), **kw)  # fmt: skip

    async def resume(
        self, workflow: CompiledWorkflow, resolution: dict[str, Any], conversation: str = "c1"
    ) -> TurnResult:
        return await self.engine.resume(workflow, conversation_id=conversation, resolution=resolution,
                                        context=self.context())  # fmt: skip

    def texts(self, result: TurnResult) -> list[str]:
        return [r["content"] for r in result.replies]

    def types(self, name: str | None = None) -> list[str]:
        return [e.type for e in self.events if name is None or e.node == name]


@pytest.fixture
def harness() -> Harness:
    return Harness(Tools(), [], WorkflowCompiler(checkpointer=InMemorySaver()), WorkflowEngine())
