"""Message templates: ``{state.field}`` and ``{input.message}`` substitution, nothing else.

No code runs in a template: a placeholder is a dotted path (``{state.order.status}``,
``{state.passages.0.title}``) into the state or the turn's inputs; ``{{`` and ``}}`` are literal
braces.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ROOTS = ("state", "input")
_SEGMENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]{0,63}|\d{1,6})$")


class TemplateError(ValueError):
    """The template text is malformed."""


@dataclass(frozen=True)
class Placeholder:
    root: str
    path: tuple[str, ...]

    @property
    def field(self) -> str:
        return self.path[0]

    def __str__(self) -> str:
        return "{" + ".".join((self.root, *self.path)) + "}"


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> list[Placeholder]:
        return [p for p in self.parts if isinstance(p, Placeholder)]


@lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Parse ``text``; raises :class:`TemplateError` naming the first problem."""
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "}":
            raise TemplateError(f"unmatched '}}' at position {i} (write '}}}}' for a brace)")
        elif char == "{":
            end = text.find("}", i)
            if end == -1:
                raise TemplateError(f"unclosed '{{' at position {i}")
            parts.extend(["".join(literal)] if literal else [])
            literal = []
            parts.append(_placeholder(text[i + 1 : end].strip(), i))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _placeholder(inner: str, position: int) -> Placeholder:
    segments = inner.split(".")
    if len(segments) < 2 or segments[0] not in ROOTS:
        raise TemplateError(
            f"placeholder {{{inner}}} at position {position} must look like "
            "{state.field} or {input.name}"
        )
    if not all(_SEGMENT.match(s) for s in segments[1:]) or segments[1].isdigit():
        raise TemplateError(f"placeholder {{{inner}}} at position {position} is not a field path")
    return Placeholder(segments[0], tuple(segments[1:]))


def lookup(scope: dict[str, Any], placeholder: Placeholder) -> Any:
    """The value a placeholder points at (``None`` when any step is missing)."""
    value: Any = scope.get(placeholder.root)
    for segment in placeholder.path:
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def render_value(value: Any) -> str:
    """How a state value reads in a message: passages as numbered blocks, other data as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and "text" in v for v in value)
    ):
        return "\n\n".join(
            f"[{n}] {v.get('title') or 'Passage'}\n{v['text']}" for n, v in enumerate(value, 1)
        )
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render(template: Template | str, scope: dict[str, Any]) -> str:
    """The text of ``template`` with every placeholder replaced from ``scope``."""
    parsed = parse_template(template) if isinstance(template, str) else template
    return "".join(
        part if isinstance(part, str) else render_value(lookup(scope, part))
        for part in parsed.parts
    )
