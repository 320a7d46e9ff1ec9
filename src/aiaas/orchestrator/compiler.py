"""Workflow spec -> LangGraph ``StateGraph`` -> compiled graph, with load-time checks and a small
cache.

Use :func:`load_workflow` on tenant input (YAML text or a dict): it returns a checked spec or raises
:class:`WorkflowValidationError` listing every issue with its YAML path and line.
:func:`compile_workflow` turns a spec into a runnable graph; :class:`WorkflowCompiler` caches graphs
per (tenant, workflow name, revision) and notices when a spec changed under the same revision.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph

from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.errors import Issue, WorkflowValidationError
from aiaas.orchestrator.nodes import BuildEnv, CheckScope, kind_for
from aiaas.orchestrator.runtime import (
    BEGIN,
    ROOT,
    Scope,
    StepChain,
    make_begin,
    make_call,
    make_step,
    step_limit,
)
from aiaas.orchestrator.spec.checks import graph_problems, transitions
from aiaas.orchestrator.spec.loader import LineMap, build_spec, issue, parse_yaml
from aiaas.orchestrator.spec.models import WorkflowSpec
from aiaas.orchestrator.spec.nodes import NodeBase, SubworkflowNode
from aiaas.orchestrator.state import RunState


@dataclass(frozen=True)
class CompiledWorkflow:
    """A runnable workflow: its spec and the compiled LangGraph graph (``graph`` and ``chain``
    are ``None`` for a workflow compiled as another's subworkflow: its steps are in the caller's
    graph)."""

    spec: WorkflowSpec
    graph: Any
    digest: str
    chain: StepChain | None = None
    children: Mapping[str, CompiledWorkflow] = field(default_factory=dict)
    """The compiled workflows its subworkflow nodes call (their steps are part of this graph)."""

    @property
    def subworkflows(self) -> tuple[str, ...]:
        """The names of the workflows its subworkflow nodes call."""
        return tuple(sorted(self.children))

    @property
    def recursion_limit(self) -> int:
        """LangGraph's superstep limit: generous above ``max_steps``, which the runtime enforces."""
        return step_limit(self.spec.limits.max_steps)


def _declared(node: NodeBase) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    return kind_for(node).targets(node)


def check_workflow(
    spec: WorkflowSpec,
    *,
    tools: AbstractSet[str] | None = None,
    workflows: AbstractSet[str] | None = None,
    lines: LineMap | None = None,
) -> list[Issue]:
    """Every load-time problem of ``spec`` (empty when it is sound).

    ``tools`` and ``workflows`` are the names that exist for the tenant; ``None`` skips that check.
    """
    scope = CheckScope(spec, tools, workflows)
    problems = graph_problems(spec, _declared)
    for index, edge in enumerate(spec.edges):
        if edge.when is not None:
            problems += scope.expression(("edges", index, "when"), edge.when)
    for index, node in enumerate(spec.nodes):
        problems += [(("nodes", index, *path), m) for path, m in kind_for(node).check(node, scope)]
    return [issue(path, message, lines) for path, message in problems]


def load_workflow(
    source: str | Mapping[str, Any],
    *,
    tools: AbstractSet[str] | None = None,
    workflows: AbstractSet[str] | None = None,
) -> WorkflowSpec:
    """Parse and check a workflow from YAML text or a mapping; raises
    :class:`WorkflowValidationError`."""
    if isinstance(source, str):
        data, lines = parse_yaml(source)
    else:
        data, lines = dict(source), None
    spec = build_spec(data, lines)
    found = check_workflow(spec, tools=tools, workflows=workflows, lines=lines)
    if found:
        raise WorkflowValidationError(found, workflow=spec.name)
    return spec


def compile_workflow(
    spec: WorkflowSpec,
    *,
    workflows: Mapping[str, WorkflowSpec] | None = None,
    tools: AbstractSet[str] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledWorkflow:
    """Check ``spec`` (with its subworkflows, from ``workflows``) and compile it into a graph."""
    return _compile(spec, dict(workflows or {}), tools, checkpointer, (spec.name,), root=True)


def _compile(
    spec: WorkflowSpec,
    workflows: dict[str, WorkflowSpec],
    tools: AbstractSet[str] | None,
    checkpointer: BaseCheckpointSaver[Any] | None,
    stack: tuple[str, ...],
    *,
    root: bool,
) -> CompiledWorkflow:
    found = check_workflow(spec, tools=tools, workflows=set(workflows) | {spec.name})
    called: dict[str, CompiledWorkflow] = {}
    for index, node in enumerate(spec.nodes):
        if not isinstance(node, SubworkflowNode) or node.workflow in called:
            continue
        child = workflows.get(node.workflow)
        where = ("nodes", index, "workflow")
        if child is None or node.workflow == spec.name:
            continue  # already reported by the node's own check
        if node.workflow in stack:
            loop = " -> ".join((*stack, node.workflow))
            found.append(issue(where, f"workflows call each other in a loop: {loop}", None))
            continue
        for name, declared in child.state.items():
            mine = spec.state.get(name)
            if mine is not None and mine.type != declared.type:
                found.append(
                    issue(
                        where,
                        f"state field {name!r} is {mine.type} here but {declared.type} in "
                        f"{child.name!r}",
                        None,
                    )
                )
        try:
            called[node.workflow] = _compile(
                child, workflows, tools, None, (*stack, node.workflow), root=False
            )
        except WorkflowValidationError as exc:
            found.append(
                issue(where, f"workflow {node.workflow!r} is invalid: {exc.issues[0]}", None)
            )
    if found:
        raise WorkflowValidationError(found, workflow=spec.name)
    # A called workflow's steps are built into its caller's graph: on its own it only needs
    # checking, not a graph of its own.
    graph, chain = _build_graph(spec, called, checkpointer=checkpointer) if root else (None, None)
    return CompiledWorkflow(spec, graph, closure_digest(spec, workflows, tools), chain, called)


def _build_graph(
    spec: WorkflowSpec,
    subworkflows: Mapping[str, CompiledWorkflow],
    *,
    checkpointer: BaseCheckpointSaver[Any] | None,
) -> tuple[Any, StepChain]:
    builder: StateGraph[RunState, NodeContext, RunState, RunState] = StateGraph(
        RunState, context_schema=NodeContext
    )
    chain = StepChain(step_limit(spec.limits.max_steps))
    # every step routes itself (a Command); destinations only document the graph's shape
    shape: dict[str, set[str]] = {}
    _add_steps(chain, shape, spec, subworkflows, ROOT, root=True, limits=spec.limits.model_dump())
    for name, targets in shape.items():
        builder.add_node(  # type: ignore[call-overload]
            name, chain.graph_node(name), destinations=tuple(sorted(targets))
        )
    builder.add_edge(START, BEGIN)
    graph = builder.compile(checkpointer=checkpointer, name=spec.name)
    return graph, chain


def _add_steps(
    chain: StepChain,
    shape: dict[str, set[str]],
    spec: WorkflowSpec,
    subworkflows: Mapping[str, CompiledWorkflow],
    scope: Scope,
    *,
    root: bool,
    limits: dict[str, Any],
) -> None:
    """Add the steps of ``spec`` (and, under their calling nodes, of every workflow it calls)."""
    begin = scope.name(BEGIN)
    chain.add(begin, make_begin(spec, root=root, limits=limits, scope=scope), exit=scope.exit)
    shape[begin] = {scope.name(spec.entry_node), scope.exit}
    env = BuildEnv(spec)
    outgoing = transitions(spec, _declared)
    for node in spec.nodes:
        moves = outgoing[node.id]
        leaving = {scope.exit} | {scope.dest(m.target) for m in moves}
        if node.on_error is not None:
            leaving.add(scope.dest(node.on_error))
        if isinstance(node, SubworkflowNode):
            called = subworkflows[node.workflow]
            inner = scope.inside(node.id)
            enter, back = make_call(spec, node, moves=moves, scope=scope)
            chain.add(scope.name(node.id), enter, exit=scope.exit)
            shape[scope.name(node.id)] = {inner.name(BEGIN), scope.exit}
            chain.add(inner.exit, back, exit=scope.exit)
            shape[inner.exit] = leaving
            _add_steps(chain, shape, called.spec, called.children, inner, root=False,
                       limits=limits)  # fmt: skip
            continue
        steps = kind_for(node).build(node, env)
        for position, step in enumerate(steps):
            then = steps[position + 1].suffix if position + 1 < len(steps) else None
            name = scope.name(node.id, step.suffix)
            made = make_step(spec, node, step, moves=moves, then=then, scope=scope)
            chain.add(name, made, pauses=step.pauses, exit=scope.exit)
            shape[name] = {scope.name(node.id, then), scope.exit} if then else leaving


def closure_digest(
    spec: WorkflowSpec, workflows: Mapping[str, WorkflowSpec], tools: AbstractSet[str] | None
) -> str:
    """A hash of the spec, every workflow it may run (transitively) and the tool names."""
    seen: dict[str, str] = {}
    pending = [spec]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen[current.name] = current.digest()
        for node in current.nodes:
            if isinstance(node, SubworkflowNode) and node.workflow in workflows:
                pending.append(workflows[node.workflow])
    parts = [f"{name}:{digest}" for name, digest in sorted(seen.items())]
    parts.append("tools:" + ",".join(sorted(tools)) if tools is not None else "tools:*")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class WorkflowCompiler:
    """Compiles workflows once: an LRU of graphs per (tenant, workflow name, revision)."""

    checkpointer: BaseCheckpointSaver[Any] | None = None
    max_entries: int = 128
    hits: int = 0
    misses: int = 0
    _cache: OrderedDict[tuple[str, str, int], CompiledWorkflow] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(
        self,
        tenant_id: str,
        spec: WorkflowSpec,
        *,
        workflows: Mapping[str, WorkflowSpec] | None = None,
        tools: AbstractSet[str] | None = None,
    ) -> CompiledWorkflow:
        """The compiled graph of ``spec`` for ``tenant_id``; compiled on a miss or a changed spec."""
        workflows = dict(workflows or {})
        key = (tenant_id, spec.name, spec.revision)
        digest = closure_digest(spec, workflows, tools)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.digest == digest:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        compiled = compile_workflow(
            spec, workflows=workflows, tools=tools, checkpointer=self.checkpointer
        )
        with self._lock:
            self.misses += 1
            self._cache[key] = compiled
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return compiled

    def invalidate(self, tenant_id: str, name: str | None = None) -> None:
        """Forget a tenant's graphs (all of them, or one workflow's)."""
        with self._lock:
            for key in [
                k for k in self._cache if k[0] == tenant_id and (name is None or k[1] == name)
            ]:
                del self._cache[key]

    def __len__(self) -> int:
        return len(self._cache)
