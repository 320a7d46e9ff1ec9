"""Running workflows: events, limits, retries, timeouts, on_error, inputs, turns and the graph cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from aiaas.backends.llm import ChatRequest, ChatResult, LocalProvider, StreamDelta
from aiaas.orchestrator.compiler import load_workflow
from aiaas.orchestrator.engine import HandoffPending, NoHandoffPending
from aiaas.orchestrator.errors import WorkflowInputError
from tests.orchestrator.conftest import Harness

COUNTER = """
version: 1
name: counter
inputs:
  step: {type: integer, default: 1}
  tag: {type: string, required: false}
state:
  n: {type: integer, default: 0}
  label: {type: string}
nodes:
  - id: bump
    type: set
    assign:
      n: state.n + input.step
      label: '"count " + string(state.n)'
  - {id: say, type: respond, message: "{state.label}"}
edges:
  - {from: bump, to: say}
"""


class PricedLocal(LocalProvider):
    """The local model with a price, to exercise cost limits."""

    async def complete(self, request: ChatRequest) -> ChatResult:
        return replace(await super().complete(request), cost_micros=700)

    async def stream(self, request: ChatRequest) -> Any:
        async for delta in super().stream(request):
            yield StreamDelta(
                delta.text, replace(delta.result, cost_micros=700) if delta.result else None
            )


def workflow(body: str, name: str = "t") -> str:
    return f"version: 1\nname: {name}\n{body}"


async def test_state_persists_across_turns_per_conversation_and_tenant(harness: Harness) -> None:
    wf = harness.compile(COUNTER)
    assert harness.texts(await harness.turn(wf, "hi")) == ["count 1"]
    assert harness.texts(await harness.turn(wf, "again", inputs={"step": 2})) == ["count 3"]
    assert harness.texts(await harness.turn(wf, "other", conversation="c2")) == ["count 1"]
    harness.tenant = "tenant-b"
    other_tenant = harness.compile(COUNTER)
    assert harness.texts(await harness.turn(other_tenant, "hi")) == ["count 1"]


async def test_turn_inputs_are_checked(harness: Harness) -> None:
    wf = harness.compile(COUNTER)
    with pytest.raises(WorkflowInputError, match="unknown inputs: nope"):
        await harness.turn(wf, "x", inputs={"nope": 1})
    with pytest.raises(WorkflowInputError, match="expected integer"):
        await harness.turn(wf, "x", inputs={"step": "two"})
    required = harness.compile(COUNTER.replace("required: false", "required: true"))
    with pytest.raises(WorkflowInputError, match="'tag' is required"):
        await harness.turn(required, "x")


async def test_stream_turn_yields_events_in_order_and_ends_with_the_result(
    harness: Harness,
) -> None:
    wf = harness.compile(
        workflow("""
state: {answer: {type: string}, passages: {type: list}}
nodes:
  - {id: find, type: retrieve, output: passages}
  - {id: write, type: llm, prompt: "{input.message}", context: passages, output: answer, stream: true}
  - {id: say, type: respond, message: "{state.answer}"}
edges: [{from: find, to: write}, {from: write, to: say}]
""")
    )
    events = [e async for e in harness.engine.stream_turn(
        wf, conversation_id="s", message="How long does express shipping take?", context=harness.context())]  # fmt: skip
    types = [e.type for e in events]
    assert types[0] == "node.started" and types[-1] == "run.finished"
    tokens = "".join(str(e.data["text"]) for e in events if e.type == "token")
    message = next(e for e in events if e.type == "message")
    assert tokens == message.data["content"] and "Express shipping" in tokens
    assert types.index("token") < types.index("message")
    assert events[-1].data["status"] == "completed" and events[-1].data["usage"]["llm_calls"] == 1
    assert harness.events == events  # the caller's own sink saw the same events


async def test_max_steps_stops_a_loop(harness: Harness) -> None:
    wf = harness.compile(
        workflow("""
limits: {max_steps: 7}
state: {n: {type: integer}}
nodes:
  - {id: spin, type: set, assign: {n: state.n + 1}}
edges:
  - {from: spin, to: spin, when: state.n < 1000}
""")
    )
    result = await harness.turn(wf, "go")
    assert result.status == "stopped" and result.stop_reason.startswith("max_steps")
    assert result.steps == 7 and result.state["n"] == 7


async def test_token_and_cost_limits_stop_the_run(harness: Harness) -> None:
    body = """
limits: {max_tokens: 40, max_cost_micros: 1000}
state: {a: {type: string}}
nodes:
  - {id: one, type: llm, prompt: "{input.message}", output: a}
  - {id: two, type: llm, prompt: "{input.message}", output: a}
  - {id: three, type: llm, prompt: "{input.message}", output: a}
edges: [{from: one, to: two}, {from: two, to: three}]
"""
    tokens = await harness.turn(harness.compile(workflow(body)), "word " * 40)
    assert tokens.status == "stopped" and tokens.stop_reason.startswith("max_tokens")
    assert tokens.usage.llm_calls == 1
    harness.llm = PricedLocal()
    cost = await harness.turn(
        harness.compile(workflow(body.replace("40", "100000"), "priced")), "hi"
    )
    assert cost.status == "stopped" and cost.stop_reason.startswith("max_cost_micros")
    assert cost.usage.cost_micros == 1400 and cost.usage.llm_calls == 2


async def test_node_retry_then_success(harness: Harness) -> None:
    harness.tools.failures["echo"] = 2
    wf = harness.compile(
        workflow("""
state: {out: {type: object}}
nodes:
  - id: call
    type: tool
    tool: echo
    args: {x: "input.message", n: "1 + 2"}
    output: out
    retry: {max_attempts: 3, backoff_seconds: 0}
""")
    )
    result = await harness.turn(wf, "hello")
    assert result.status == "completed" and result.state["out"] == {"echo": {"x": "hello", "n": 3}}
    assert harness.tools.count("echo") == 3 and harness.types("call").count("tool.called") == 3


async def test_node_timeout_takes_the_on_error_edge(harness: Harness) -> None:
    harness.tools.delay["echo"] = 5
    wf = harness.compile(
        workflow("""
nodes:
  - {id: call, type: tool, tool: echo, timeout: 0.05, on_error: sorry}
  - {id: sorry, type: respond, message: "Failed at {state.failed}"}
state: {failed: {type: string, default: "-"}}
""")
    )
    result = await harness.turn(wf, "hi")
    assert result.status == "completed" and harness.texts(result) == ["Failed at -"]
    assert result.error is None and "node.failed" in harness.types("call")


async def test_failure_without_on_error_fails_the_run_with_the_reason(harness: Harness) -> None:
    harness.tools.failures["echo"] = 9
    wf = harness.compile(workflow("nodes:\n  - {id: call, type: tool, tool: echo}\n"))
    result = await harness.turn(wf, "hi")
    assert result.status == "failed" and "echo is down" in (result.stop_reason or "")
    assert result.error == {
        "workflow": "t",
        "node": "call",
        "code": "ConnectionError",
        "message": "echo is down",
    }


async def test_on_error_can_read_the_error(harness: Harness) -> None:
    harness.tools.failures["echo"] = 9
    wf = harness.compile(
        workflow("""
state: {why: {type: string}}
nodes:
  - {id: call, type: tool, tool: echo, on_error: note}
  - {id: note, type: set, assign: {why: 'run.error.node + ": " + run.error.message'}}
  - {id: say, type: respond, message: "{state.why}"}
edges: [{from: note, to: say}]
""")
    )
    assert harness.texts(await harness.turn(wf, "x")) == ["call: echo is down"]


async def test_a_failing_condition_is_a_failure_of_its_node(harness: Harness) -> None:
    wf = harness.compile(
        workflow("""
state: {n: {type: integer}}
nodes:
  - {id: a, type: respond, message: hi}
  - {id: b, type: respond, message: there}
edges: [{from: a, to: b, when: 'state.n == "text"'}]
""")
    )
    result = await harness.turn(wf, "x")
    assert result.status == "failed" and result.error and result.error["code"] == "ExpressionError"
    assert harness.texts(result) == []  # the failed node's reply is not kept


async def test_set_rejects_a_value_of_the_wrong_type(harness: Harness) -> None:
    wf = harness.compile(
        workflow(
            "state: {n: {type: integer}}\nnodes:\n  - {id: s, type: set, assign: {n: '\"x\"'}}\n"
        )
    )
    result = await harness.turn(wf, "x")
    assert result.status == "failed" and "expected integer" in (result.stop_reason or "")


async def test_turn_timeout_stops_the_run(harness: Harness) -> None:
    harness.tools.delay["echo"] = 5
    wf = harness.compile(
        workflow("limits: {timeout_seconds: 0.1}\nnodes:\n  - {id: call, type: tool, tool: echo}\n")
    )
    result = await harness.turn(wf, "x")
    assert result.status == "stopped" and (result.stop_reason or "").startswith("timeout")


async def test_handoff_guards(harness: Harness) -> None:
    wf = harness.compile(
        workflow("""
state: {reply: {type: string}}
nodes:
  - {id: ask, type: handoff, reason: "help with {input.message}", output: reply}
  - {id: echo, type: respond, message: "agent said {state.reply}"}
edges: [{from: ask, to: echo}]
""")
    )
    with pytest.raises(NoHandoffPending):
        await harness.resume(wf, {"action": "hand_back"})
    waiting = await harness.turn(wf, "billing")
    assert waiting.handoff and waiting.handoff["reason"] == "help with billing"
    with pytest.raises(HandoffPending):
        await harness.turn(wf, "hello?")
    with pytest.raises(ValidationError):
        await harness.resume(wf, {"action": "answer", "message": ""})
    done = await harness.resume(wf, {"action": "answer", "message": "refund sent"})
    assert harness.texts(done) == ["refund sent", "agent said refund sent"]
    assert harness.types("ask").count("handoff.requested") == 1  # the announcement is not repeated


async def test_a_stream_consumer_that_stops_early_cancels_the_run(harness: Harness) -> None:
    harness.tools.delay["echo"] = 30
    wf = harness.compile(
        workflow(
            "nodes:\n  - {id: hi, type: respond, message: hi}\n  - {id: call, type: tool, tool: echo}\nedges: [{from: hi, to: call}]\n"
        )
    )
    stream = harness.engine.stream_turn(
        wf, conversation_id="q", message="x", context=harness.context()
    )
    first = await anext(stream)
    assert first.type == "node.started"
    await asyncio.wait_for(stream.aclose(), 2)


def test_compiler_cache_hits_recompiles_changed_specs_and_evicts(harness: Harness) -> None:
    compiler = harness.compiler
    compiler.max_entries = 2
    spec = load_workflow(COUNTER)
    first = compiler.get("t1", spec)
    assert compiler.get("t1", spec) is first and compiler.hits == 1
    changed = load_workflow(COUNTER.replace("count ", "total "))
    assert compiler.get("t1", changed) is not first  # same name and revision, new content
    compiler.get("t2", spec)
    compiler.get("t3", spec)
    assert len(compiler) == 2
    compiler.invalidate("t3")
    assert len(compiler) == 1
