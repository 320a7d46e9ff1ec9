"""The workflow DSL (``version: 1``) as strict pydantic models, and its JSON Schema."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, field_validator, model_validator

from aiaas.orchestrator.spec.nodes import FIELD_NAME, NodeSpec, Strict, Target

FieldType = Literal["string", "number", "integer", "boolean", "list", "object"]
BUILTIN_INPUTS = ("message",)
CEL_RESERVED = frozenset(
    {
        "as", "break", "const", "continue", "else", "false", "for", "function", "if", "import",
        "in", "let", "loop", "package", "namespace", "null", "return", "true", "var", "void",
        "while",
    }
)  # fmt: skip
_EMPTY: dict[str, Any] = {
    "string": "", "number": 0.0, "integer": 0, "boolean": False, "list": [], "object": {},
}  # fmt: skip


def type_matches(kind: str, value: Any) -> bool:
    """Whether ``value`` is a valid value of the DSL type ``kind`` (``None`` never is)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "list":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return False


def coerce(kind: str, value: Any) -> Any:
    """``value`` as the DSL type ``kind`` (numbers as float, whole floats as integers); else raises."""
    if kind == "number" and type_matches("number", value):
        return float(value)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if type_matches(kind, value):
        return value
    raise TypeError(f"expected {kind}, got {type(value).__name__}")


class FieldSpec(Strict):
    """A typed state field; it keeps its value across the turns of a conversation."""

    type: FieldType
    default: Any = None
    description: str = Field("", max_length=2_000)

    @model_validator(mode="after")
    def _default_fits(self) -> FieldSpec:
        if self.default is not None and not type_matches(self.type, self.default):
            raise ValueError(f"default does not match type {self.type}")
        return self

    def initial(self) -> Any:
        """The value a new conversation starts with."""
        value = self.default if self.default is not None else _EMPTY[self.type]
        return coerce(self.type, json.loads(json.dumps(value)))


class InputSpec(Strict):
    """A value the caller passes with each turn (``message`` is always there)."""

    type: FieldType = "string"
    required: bool = False
    default: Any = None
    description: str = Field("", max_length=2_000)

    @model_validator(mode="after")
    def _default_fits(self) -> InputSpec:
        if self.default is not None and not type_matches(self.type, self.default):
            raise ValueError(f"default does not match type {self.type}")
        return self


class Limits(Strict):
    """Per-turn budgets; exceeding one stops the run with a clear reason."""

    max_steps: int = Field(50, ge=1, le=1_000)
    max_tokens: int = Field(20_000, ge=1, le=10_000_000)
    max_cost_micros: int = Field(100_000, ge=0, le=10**12, description="Integer micro-dollars")
    timeout_seconds: float = Field(120.0, gt=0, le=3_600)


class Edge(Strict):
    """A transition; edges leaving one node are tried in order, the first whose ``when`` holds wins."""

    source: Target = Field(alias="from")
    to: Target
    when: str | None = Field(None, min_length=1, max_length=2_000)

    model_config = Strict.model_config | {"populate_by_name": True}


class WorkflowSpec(Strict):
    """A support workflow: typed state, nodes, edges and limits."""

    version: Literal[1] = Field(description="DSL version")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    revision: int = Field(1, ge=1, description="Revision of this workflow; part of the cache key")
    description: str = Field("", max_length=5_000)
    inputs: dict[str, InputSpec] = Field(default_factory=dict, max_length=100)
    state: dict[str, FieldSpec] = Field(default_factory=dict, max_length=200)
    limits: Limits = Field(default_factory=Limits)
    entry: Target | None = Field(None, description="First node (default: the first one listed)")
    nodes: list[NodeSpec] = Field(min_length=1, max_length=500)
    edges: list[Edge] = Field(default_factory=list, max_length=2_000)
    _digest: str | None = PrivateAttr(None)

    @field_validator("inputs", "state")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        import re

        for name in value:
            if not re.match(FIELD_NAME, name) or name in CEL_RESERVED:
                raise ValueError(
                    f"{name!r} is not a valid field name (lower_snake_case, not a keyword)"
                )
        return value

    @property
    def entry_node(self) -> str:
        return self.entry or self.nodes[0].id

    def node(self, node_id: str) -> Any:
        """The node with id ``node_id`` (``None`` if absent)."""
        return next((n for n in self.nodes if n.id == node_id), None)

    def input_names(self) -> set[str]:
        return set(self.inputs) | set(BUILTIN_INPUTS)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; the cached digest is dropped because ``update`` may change the content."""
        copied = super().model_copy(update=update, deep=deep)
        copied._digest = None
        return copied

    def digest(self) -> str:
        """A stable hash of the spec's content (detects a changed spec under the same revision)."""
        if self._digest is None:  # specs are frozen: computed once
            payload = json.dumps(
                self.model_dump(mode="json", by_alias=True), sort_keys=True, default=str
            )
            self._digest = hashlib.sha256(payload.encode()).hexdigest()
        return self._digest


def workflow_json_schema() -> dict[str, Any]:
    """The JSON Schema of the workflow YAML/JSON documents (for editors and the API docs)."""
    schema = WorkflowSpec.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aiaas workflow (version 1)"
    return schema
