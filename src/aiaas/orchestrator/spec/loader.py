"""Loading workflows from YAML or dicts; every problem becomes an :class:`Issue` with path and line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from aiaas.orchestrator.errors import Issue, WorkflowValidationError
from aiaas.orchestrator.spec.models import WorkflowSpec
from aiaas.orchestrator.spec.nodes import NODE_TYPES

MAX_YAML_BYTES = 512 * 1024
Path = tuple[str | int, ...]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class LineMap:
    """Line numbers (1-based) of the values in a YAML document, by path."""

    def __init__(self, lines: dict[Path, int] | None = None) -> None:
        self._lines = lines or {}

    @classmethod
    def from_node(cls, node: yaml.Node | None) -> LineMap:
        lines: dict[Path, int] = {}

        def walk(current: yaml.Node, path: Path) -> None:
            lines.setdefault(path, current.start_mark.line + 1)
            if isinstance(current, yaml.MappingNode):
                for key, value in current.value:
                    if isinstance(key, yaml.ScalarNode):
                        lines[(*path, key.value)] = key.start_mark.line + 1
                        walk(value, (*path, key.value))
            elif isinstance(current, yaml.SequenceNode):
                for index, item in enumerate(current.value):
                    walk(item, (*path, index))

        if node is not None:
            walk(node, ())
        return cls(lines)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its closest ancestor present in the document."""
        probe = tuple(path)
        while probe:
            if probe in self._lines:
                return self._lines[probe]
            probe = probe[:-1]
        return self._lines.get(())


def format_path(path: Sequence[str | int]) -> str:
    """``("nodes", 3, "tool")`` as ``nodes[3].tool``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def issue(path: Sequence[str | int], message: str, lines: LineMap | None) -> Issue:
    return Issue(format_path(path), message, lines.line(path) if lines else None)


def parse_yaml(text: str) -> tuple[Any, LineMap]:
    """The data and line map of a YAML document; raises :class:`WorkflowValidationError`."""
    if len(text.encode("utf-8", "replace")) > MAX_YAML_BYTES:
        raise WorkflowValidationError([Issue("", f"document larger than {MAX_YAML_BYTES} bytes")])
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader_class)
        alias_line = _first_alias(node)
        if alias_line is not None:
            raise WorkflowValidationError([Issue("", "YAML aliases are not allowed", alias_line)])
        data = loader_class("").construct_document(node) if node is not None else None
    except WorkflowValidationError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise WorkflowValidationError(
            [Issue("", f"YAML error: {exc.problem or exc}", line)]
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise WorkflowValidationError([Issue("", f"YAML error: {type(exc).__name__}")]) from None
    return data, LineMap.from_node(node)


def _first_alias(root: yaml.Node | None) -> int | None:
    """The line of the first node reached twice (an alias), or ``None``; aliases could expand a
    small document into a huge one."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node.start_mark.line + 1
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def _clean_loc(loc: Sequence[Any], data: Any) -> Path:
    """A pydantic error location without the union tags (``nodes.3.llm.prompt`` ->
    ``nodes[3].prompt``)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part not in current and current.get("type") == part:
            continue  # the discriminator's tag, not a key
        if isinstance(part, str) and part.startswith(("function-", "json-or-python")):
            continue
        path.append(part if isinstance(part, int) else str(part))
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(path)


def _message(error: Any) -> str:
    kind = error.get("type")
    if kind == "union_tag_invalid":
        tag = (error.get("ctx") or {}).get("tag")
        return f"unknown node type {tag!r} (expected one of: {', '.join(NODE_TYPES)})"
    if kind == "union_tag_not_found":
        return f"node needs a type (one of: {', '.join(NODE_TYPES)})"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    return str(error.get("msg", "invalid value"))


def validation_issues(exc: ValidationError, data: Any, lines: LineMap | None) -> list[Issue]:
    """The issues of a pydantic validation error, pointing at the offending keys."""
    found = []
    for error in exc.errors(include_url=False):
        path = _clean_loc(error.get("loc", ()), data)
        if error.get("type") == "union_tag_invalid":
            path = (*path, "type")
        found.append(issue(path, _message(error), lines))
    return found


def build_spec(data: Any, lines: LineMap | None = None) -> WorkflowSpec:
    """A :class:`WorkflowSpec` from parsed data; raises :class:`WorkflowValidationError`."""
    if not isinstance(data, dict):
        raise WorkflowValidationError(
            [Issue("", "a workflow must be a mapping", lines.line(()) if lines else None)]
        )
    name = data.get("name") if isinstance(data.get("name"), str) else None
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise WorkflowValidationError(validation_issues(exc, data, lines), workflow=name) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise WorkflowValidationError(
            [Issue("", f"invalid workflow: {exc}")], workflow=name
        ) from None
