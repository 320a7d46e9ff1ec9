"""Steps run in chains inside single LangGraph steps; a step that may pause starts its own."""

from __future__ import annotations

from aiaas.orchestrator.compiler import WorkflowCompiler, load_workflow
from tests.orchestrator.conftest import Harness

SUMMARY = """
version: 1
name: summary
state: {n: {type: integer}, note: {type: string}}
nodes:
  - {id: add, type: set, assign: {n: state.n + 10}}
  - {id: tell, type: respond, message: "summary {state.n}"}
edges: [{from: add, to: tell}]
"""

ESCALATE = """
version: 1
name: escalate
state: {n: {type: integer}, note: {type: string}}
nodes:
  - {id: add, type: set, assign: {n: state.n + 100}}
  - {id: ask, type: handoff, reason: "n is {state.n}", output: note}
  - {id: after, type: respond, message: "agent: {state.note}"}
edges: [{from: add, to: ask}, {from: ask, to: after}]
"""


def parent(child: str, tail: str = "") -> str:
    return f"""
version: 1
name: parent
state: {{n: {{type: integer}}, note: {{type: string}}}}
nodes:
  - {{id: first, type: tool, tool: echo, args: {{n: state.n}}}}
  - {{id: bump, type: set, assign: {{n: state.n + 1}}}}
  - {{id: sub, type: subworkflow, workflow: {child}{tail}}}
  - {{id: last, type: tool, tool: echo, args: {{n: state.n}}}}
  - {{id: done, type: respond, message: "n={{state.n}}"}}
edges:
  - {{from: first, to: bump}}
  - {{from: bump, to: sub}}
  - {{from: sub, to: last}}
  - {{from: last, to: done}}
"""


async def test_a_turn_without_a_pause_is_one_graph_step_with_every_node_event(
    harness: Harness,
) -> None:
    wf = harness.compile(parent("summary"), {"summary": load_workflow(SUMMARY)})
    assert wf.chain is not None and not wf.chain.pauses
    config = {"configurable": {"thread_id": "chain"}, "recursion_limit": wf.recursion_limit}
    supersteps = [
        chunk
        async for chunk in wf.graph.astream(
            {"inputs": {"message": "hi"}}, config, context=harness.context(), stream_mode="updates"
        )
    ]
    assert len(supersteps) == 1, [list(chunk) for chunk in supersteps]
    assert supersteps[0]["__begin"]["vars"]["n"] == 11
    started = [e.node for e in harness.events if e.type == "node.started"]
    completed = [e.node for e in harness.events if e.type == "node.completed"]
    assert started == ["first", "bump", "sub", "add", "tell", "last", "done"]
    assert sorted(completed) == sorted(started)
    assert [args["n"] for name, args in harness.tools.calls if name == "echo"] == [0, 11]


async def test_steps_before_a_pause_do_not_run_again_when_the_run_resumes(
    harness: Harness,
) -> None:
    wf = harness.compile(parent("escalate"), {"escalate": load_workflow(ESCALATE)})
    assert wf.chain is not None and wf.chain.pauses == {"sub>ask.wait"}
    waiting = await harness.turn(wf, "help")
    assert waiting.status == "waiting_for_agent" and waiting.handoff
    assert waiting.handoff["reason"] == "n is 101"
    assert harness.tools.count("echo") == 1
    done = await harness.resume(wf, {"action": "answer", "message": "sorted"})
    assert done.status == "completed", done.stop_reason
    assert harness.texts(done) == ["sorted", "agent: sorted", "n=101"]
    assert harness.tools.count("echo") == 2  # `first` ran once, `last` once
    assert harness.types("add").count("node.started") == 1
    assert harness.types("ask").count("handoff.requested") == 1


async def test_a_failure_inside_an_inline_subworkflow_takes_the_parents_on_error(
    harness: Harness,
) -> None:
    broken = SUMMARY.replace("state.n + 10", "state.n / 0")
    wf = harness.compile(parent("summary, on_error: done"), {"summary": load_workflow(broken)})
    result = await harness.turn(wf, "x")
    assert result.status == "completed", result.stop_reason
    assert harness.texts(result) == ["n=1"]
    assert "node.failed" in harness.types("add")
    assert harness.tools.count("echo") == 1  # `last` was skipped by the on_error edge


async def test_a_loop_inside_a_chain_still_stops_at_max_steps(harness: Harness) -> None:
    spin = load_workflow("""
version: 1
name: spin
limits: {max_steps: 40}
state: {n: {type: integer}, note: {type: string}}
nodes:
  - {id: add, type: set, assign: {n: state.n + 1}}
edges: [{from: add, to: add, when: "true"}]
""")
    wf = harness.compile(
        parent("spin").replace("version: 1\n", "version: 1\nlimits: {max_steps: 40}\n", 1),
        {"spin": spin},
    )
    result = await harness.turn(wf, "x")
    assert result.status == "stopped" and (result.stop_reason or "").startswith("max_steps")
    assert result.steps == 40


async def test_a_handoff_inside_a_subworkflow_resumes_in_a_fresh_process(
    harness: Harness,
) -> None:
    specs = {"escalate": load_workflow(ESCALATE)}
    wf = harness.compile(parent("escalate"), specs)
    assert (await harness.turn(wf, "help")).status == "waiting_for_agent"
    # a new compiler over the same checkpoints: what another replica or a restart sees
    harness.compiler = WorkflowCompiler(checkpointer=harness.compiler.checkpointer)
    again = harness.compile(parent("escalate"), specs)
    pending = await harness.engine.pending_handoff(
        again, conversation_id="c1", tenant_id=harness.tenant
    )
    assert pending is not None and pending["reason"] == "n is 101"
    done = await harness.resume(again, {"action": "hand_back"})
    assert done.status == "completed" and harness.texts(done) == ["agent:", "n=101"]
    order = [(e.type, e.node) for e in harness.events if e.type.startswith("node.")]
    # the calling node completes after the steps of the workflow it called
    assert order.index(("node.completed", "sub")) > order.index(("node.completed", "after"))
    assert harness.tools.count("echo") == 2
