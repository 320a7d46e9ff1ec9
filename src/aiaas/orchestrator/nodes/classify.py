"""``classify``: label the message with one of the declared classes."""

from __future__ import annotations

from typing import Any

from aiaas.backends.llm.types import ChatMessage, ChatRequest, ResponseSchema
from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.nodes.llm import call_model
from aiaas.orchestrator.spec.nodes import ClassifyNode
from aiaas.orchestrator.spec.templates import parse_template, render
from aiaas.orchestrator.state import View

INSTRUCTIONS = (
    "Classify the customer's message into exactly one of these classes and answer with JSON "
    '{{"label": <class>}}.\n{classes}'
)


def label_schema(node: ClassifyNode) -> dict[str, Any]:
    """The structured-output schema: an enum of the class names, described one per line."""
    described = "\n".join(f"- {c.name}: {c.description}" for c in node.classes)
    label: dict[str, Any] = {
        "type": "string",
        "enum": [c.name for c in node.classes],
        "description": described,
    }
    if node.default:
        label["default"] = node.default
    return {
        "type": "object",
        "properties": {"label": label},
        "required": ["label"],
        "additionalProperties": False,
    }


class ClassifyKind(SimpleKind[ClassifyNode]):
    type = "classify"

    def check(self, node: ClassifyNode, scope: CheckScope) -> list[Problem]:
        problems = scope.template(("input",), node.input)
        problems += scope.output(("output",), node.output, ["string"])
        names = [c.name for c in node.classes]
        for index, name in enumerate(names):
            if names.index(name) != index:
                problems.append((("classes", index, "name"), f"duplicate class {name!r}"))
        if node.default is not None and node.default not in names:
            problems.append((("default",), f"default {node.default!r} is not one of the classes"))
        if node.tier and node.model:
            problems.append((("model",), "give either tier or model, not both"))
        return problems

    def build(self, node: ClassifyNode, env: BuildEnv) -> list[Step]:
        text = parse_template(node.input)
        schema = ResponseSchema(name="classification", schema=label_schema(node))
        names = [c.name for c in node.classes]
        fallback = node.default or names[-1]
        system = INSTRUCTIONS.format(
            classes="\n".join(f"- {c.name}: {c.description}" for c in node.classes)
        )

        async def run(view: View, ctx: NodeContext) -> Outcome:
            request = ChatRequest(
                messages=(
                    ChatMessage(role="system", content=system),
                    ChatMessage(role="user", content=render(text, view.scope())),
                ),
                model=node.model,
                tier=node.tier or (None if node.model else ctx.model_tier),
                response_schema=schema,
                temperature=0.0,
            )
            result = await call_model(
                ctx, request, stream=False, workflow=env.spec.name, node=node.id
            )
            label = (result.parsed or {}).get("label")
            return Outcome(
                updates={node.output: label if label in names else fallback}, calls=[result]
            )

        return [Step("", run)]
