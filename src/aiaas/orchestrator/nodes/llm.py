"""``llm``: ask the model with a prompt built from the state; optional passages and structured
output."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from aiaas.backends.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Document,
    ResponseSchema,
)
from aiaas.orchestrator.context import NodeContext, WorkflowEvent
from aiaas.orchestrator.nodes.base import BuildEnv, CheckScope, Outcome, Problem, SimpleKind, Step
from aiaas.orchestrator.spec.nodes import LLMNode
from aiaas.orchestrator.spec.templates import parse_template, render
from aiaas.orchestrator.state import View


def remaining_tokens(view: View) -> int | None:
    limits = view.run.get("limits") or {}
    if "max_tokens" not in limits:
        return None
    return max(1, int(limits["max_tokens"]) - int(view.run.get("tokens", 0)))


def history_messages(view: View, count: int) -> list[ChatMessage]:
    """The ``count`` messages before the current one, oldest first."""
    if count <= 0:
        return []
    earlier = (
        view.history[:-1]
        if view.history and view.history[-1].get("role") == "user"
        else view.history
    )
    out = []
    for item in earlier[-count:]:
        speaker = item.get("role")
        out.append(
            ChatMessage(
                role="assistant" if speaker in ("assistant", "agent") else "user",
                content=str(item.get("content") or ""),
            )
        )
    return out


def documents_from(value: Any) -> tuple[Document, ...]:
    """Passages in the state (as the retrieve node stores them) as model documents."""
    if not isinstance(value, list):
        return ()
    return tuple(
        Document(
            title=str(p.get("title") or ""),
            text=str(p.get("text") or ""),
            id=p.get("id"),
            url=p.get("url"),
        )
        for p in value
        if isinstance(p, dict) and p.get("text")
    )


async def call_model(
    ctx: NodeContext, request: ChatRequest, *, stream: bool, workflow: str, node: str
) -> ChatResult:
    """Complete (or stream, publishing ``token`` events) and return the result."""
    if not stream:
        return await ctx.llm.complete(request)
    result: ChatResult | None = None
    async for delta in ctx.llm.stream(request):
        if delta.text:
            await ctx.publish(WorkflowEvent("token", workflow, node, {"text": delta.text}))
        if delta.result is not None:
            result = delta.result
    if result is None:
        raise RuntimeError("the model stream ended without a result")
    return result


class LLMKind(SimpleKind[LLMNode]):
    type = "llm"

    def check(self, node: LLMNode, scope: CheckScope) -> list[Problem]:
        problems = scope.template(("prompt",), node.prompt) + scope.template(
            ("system",), node.system
        )
        if node.output_schema is not None:
            problems += scope.output(("output",), node.output, ["object"])
            problems += _schema_problems(node.output_schema)
        else:
            problems += scope.output(("output",), node.output, ["string"])
        problems += scope.output(("context",), node.context, ["list"])
        problems += scope.output(("citations",), node.citations, ["list"])
        return problems

    def build(self, node: LLMNode, env: BuildEnv) -> list[Step]:
        prompt = parse_template(node.prompt)
        system = parse_template(node.system) if node.system else None
        schema = (
            ResponseSchema(name=f"{node.id.replace('-', '_')}_output", schema=node.output_schema)
            if node.output_schema
            else None
        )
        workflow = env.spec.name

        async def run(view: View, ctx: NodeContext) -> Outcome:
            scope = view.scope()
            messages: list[ChatMessage] = []
            if system is not None:
                messages.append(ChatMessage(role="system", content=render(system, scope)))
            messages += history_messages(view, node.history)
            messages.append(ChatMessage(role="user", content=render(prompt, scope)))
            cap = remaining_tokens(view)
            if node.max_output_tokens is not None:
                cap = node.max_output_tokens if cap is None else min(cap, node.max_output_tokens)
            request = ChatRequest(
                messages=tuple(messages),
                model=node.model,
                tier=node.tier or (None if node.model else ctx.model_tier),
                response_schema=schema,
                documents=documents_from(view.vars.get(node.context)) if node.context else (),
                max_output_tokens=cap,
                temperature=node.temperature,
            )
            result = await call_model(
                ctx, request, stream=node.stream and schema is None, workflow=workflow, node=node.id
            )
            updates: dict[str, Any] = {node.output: result.parsed if schema else result.content}
            if node.citations:
                updates[node.citations] = [
                    {"index": c.index, "title": c.title, "id": c.id, "url": c.url}
                    for c in result.citations
                ]
            return Outcome(updates=updates, calls=[result])

        return [Step("", run)]


def _schema_problems(schema: dict[str, Any]) -> list[Problem]:
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return [(("schema",), "must be a JSON schema of type object with properties")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [(("schema",), f"not a valid JSON schema: {exc.message}")]
    except Exception as exc:  # malformed schemas can fail inside the validator itself
        return [(("schema",), f"not a valid JSON schema: {type(exc).__name__}")]
    return []
