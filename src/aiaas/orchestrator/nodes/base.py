"""The contract of a node type: load-time checks and building its executable step(s)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiaas.backends.llm.types import ChatResult
from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.spec.expressions import check_expression
from aiaas.orchestrator.spec.models import FieldSpec, WorkflowSpec
from aiaas.orchestrator.spec.nodes import NodeBase
from aiaas.orchestrator.spec.templates import TemplateError, parse_template
from aiaas.orchestrator.state import View

SpecT = TypeVar("SpecT", bound=NodeBase)
SpecT_contra = TypeVar("SpecT_contra", bound=NodeBase, contravariant=True)
Problem = tuple[tuple[str | int, ...], str]
"""A problem found by a check: the path below the node (e.g. ``("prompt",)``) and the message."""


@dataclass
class CheckScope:
    """What a node's checks can look at: the workflow's fields, the tools and workflows that exist."""

    spec: WorkflowSpec
    tools: AbstractSet[str] | None
    workflows: AbstractSet[str] | None

    @property
    def fields(self) -> Mapping[str, FieldSpec]:
        return self.spec.state

    def template(self, where: tuple[str | int, ...], text: str | None) -> list[Problem]:
        """Problems of a template: syntax, unknown state fields or inputs."""
        if text is None:
            return []
        try:
            parsed = parse_template(text)
        except TemplateError as exc:
            return [(where, str(exc))]
        problems: list[Problem] = []
        for placeholder in parsed.placeholders:
            if placeholder.root == "state" and placeholder.field not in self.spec.state:
                problems.append((where, f"{placeholder} refers to an unknown state field"))
            elif placeholder.root == "input" and placeholder.field not in self.spec.input_names():
                problems.append((where, f"{placeholder} refers to an unknown input"))
        return problems

    def expression(self, where: tuple[str | int, ...], text: str) -> list[Problem]:
        """Problems of a CEL expression: syntax and unknown names or fields."""
        messages = check_expression(
            text, state_fields=set(self.spec.state), input_names=self.spec.input_names()
        )
        return [(where, m) for m in messages]

    def output(
        self, where: tuple[str | int, ...], name: str | None, allowed: Iterable[str]
    ) -> list[Problem]:
        """Problems of an output field: it must be declared and of one of the ``allowed`` types."""
        if name is None:
            return []
        declared = self.spec.state.get(name)
        if declared is None:
            return [(where, f"unknown state field {name!r} (declare it under state:)")]
        allowed = list(allowed)
        if declared.type not in allowed:
            return [
                (where, f"state field {name!r} is {declared.type}; expected {' or '.join(allowed)}")
            ]
        return []


@dataclass
class Outcome:
    """What a node did: field updates, messages for the customer, model calls made."""

    updates: dict[str, Any] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ChatResult] = field(default_factory=list)
    run: dict[str, Any] | None = None
    """A replacement ``run`` (a handoff records its request there)."""


Executor = Callable[[View, NodeContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class Step:
    """One LangGraph node built from a spec node. ``counts`` is false for continuation steps;
    ``pauses`` marks a step that may interrupt the run (it always starts a superstep)."""

    suffix: str
    run: Executor
    counts: bool = True
    retries: bool = True
    pauses: bool = False


class NodeKind(Protocol, Generic[SpecT_contra]):
    """A node type: its checks, the edges it declares itself, and how it runs."""

    type: str

    def check(self, node: SpecT_contra, scope: CheckScope) -> list[Problem]: ...

    def targets(self, node: SpecT_contra) -> list[tuple[tuple[str | int, ...], str, str | None]]:
        """Edges declared inside the node: (path, target, condition)."""
        ...

    def build(self, node: SpecT_contra, env: BuildEnv) -> list[Step]: ...


@dataclass
class BuildEnv:
    """What building a node may use: the workflow it belongs to."""

    spec: WorkflowSpec


class SimpleKind(Generic[SpecT]):
    """Base for node types without their own edges."""

    type = ""

    def targets(self, node: SpecT) -> list[tuple[tuple[str | int, ...], str, str | None]]:
        return []
