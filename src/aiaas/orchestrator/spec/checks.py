"""Graph checks of a workflow: ids, edge targets, reachability and cycles that cannot end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiaas.orchestrator.spec.models import WorkflowSpec
from aiaas.orchestrator.spec.nodes import END, NodeBase

Path = tuple[str | int, ...]
Problem = tuple[Path, str]
DeclaredTargets = Callable[[NodeBase], Sequence[tuple[Path, str, str | None]]]


@dataclass(frozen=True)
class Transition:
    """An outgoing transition of a node, as declared (by an edge or inside the node)."""

    path: Path
    target: str
    when: str | None


def transitions(spec: WorkflowSpec, declared: DeclaredTargets) -> dict[str, list[Transition]]:
    """Every node's outgoing transitions in the order they are tried: its own, then the edges."""
    found: dict[str, list[Transition]] = {n.id: [] for n in spec.nodes}
    for index, node in enumerate(spec.nodes):
        for path, target, when in declared(node):
            found[node.id].append(Transition(("nodes", index, *path), target, when))
    for index, edge in enumerate(spec.edges):
        if edge.source in found:
            found[edge.source].append(Transition(("edges", index, "to"), edge.to, edge.when))
    return found


def graph_problems(spec: WorkflowSpec, declared: DeclaredTargets) -> list[Problem]:
    """Problems of the workflow's graph (not of the nodes' own fields)."""
    problems: list[Problem] = []
    ids = [n.id for n in spec.nodes]
    known = set(ids)
    for index, node_id in enumerate(ids):
        if ids.index(node_id) != index:
            problems.append((("nodes", index, "id"), f"duplicate node id {node_id!r}"))
    if spec.entry is not None and spec.entry not in known:
        problems.append((("entry",), f"entry {spec.entry!r} is not a node"))
    for index, edge in enumerate(spec.edges):
        if edge.source not in known:
            problems.append((("edges", index, "from"), f"edge from unknown node {edge.source!r}"))
        if edge.to != END and edge.to not in known:
            problems.append((("edges", index, "to"), f"edge to unknown node {edge.to!r}"))
    outgoing = transitions(spec, declared)
    for index, node in enumerate(spec.nodes):
        if node.on_error is not None and node.on_error != END and node.on_error not in known:
            problems.append(
                (("nodes", index, "on_error"), f"on_error to unknown node {node.on_error!r}")
            )
        for path, target, _when in declared(node):
            if target != END and target not in known:
                problems.append((("nodes", index, *path), f"unknown node {target!r}"))
    if problems:
        return problems  # reachability is meaningless over dangling references
    successors = {
        node.id: [t.target for t in outgoing[node.id] if t.target != END]
        + ([node.on_error] if node.on_error and node.on_error != END else [])
        for node in spec.nodes
    }
    reached = _reachable(spec.entry_node, successors)
    for index, node in enumerate(spec.nodes):
        if node.id not in reached:
            problems.append((("nodes", index), f"node {node.id!r} is not reachable from the entry"))
    for component in _cycles(ids, successors):
        if not _has_exit(component, spec, outgoing):
            first = min(component, key=ids.index)
            loop = " -> ".join(sorted(component, key=ids.index))
            problems.append((("nodes", ids.index(first)), f"cycle with no exit: {loop}"))
    return problems


def _reachable(start: str, successors: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in successors.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _has_exit(
    component: set[str], spec: WorkflowSpec, outgoing: dict[str, list[Transition]]
) -> bool:
    for node_id in component:
        moves = outgoing[node_id]
        node = spec.node(node_id)
        if not any(t.when is None for t in moves):
            return True  # when no condition holds the run ends here
        if any(t.target == END or t.target not in component for t in moves):
            return True
        if (
            node is not None
            and node.on_error is not None
            and (node.on_error == END or node.on_error not in component)
        ):
            return True
    return False


def _cycles(nodes: list[str], successors: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan's algorithm, iteratively)."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child_index = work.pop()
            if child_index == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = successors.get(node, [])
            if child_index < len(children):
                work.append((node, child_index + 1))
                child = children[child_index]
                if child not in index_of:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index_of[child])
                continue
            if low[node] == index_of[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in successors.get(node, []):
                    found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
