"""Property tests: any input, however broken, gives a compiled graph or a validation error."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaas.orchestrator.compiler import CompiledWorkflow, compile_workflow, load_workflow
from aiaas.orchestrator.errors import WorkflowValidationError
from aiaas.orchestrator.spec.models import WorkflowSpec

IDS = ["a", "b", "c", "d", "end", "start", "Bad Id", ""]
FIELDS = ["answer", "items", "n", "flag", "ghost", "in", "9x"]
TYPES = ["string", "number", "integer", "boolean", "list", "object", "date", 3]
NODE_TYPES = ["llm", "retrieve", "tool", "classify", "branch", "set", "respond", "handoff",
              "subworkflow", "teleport", None]  # fmt: skip
TEMPLATES = ["hi", "{state.answer}", "{input.message}", "{state.ghost}", "{oops", "}", "{{x}}", "",
             "{state.items.0.title}", "{input.nope}"]  # fmt: skip
EXPRESSIONS = ["true", "state.n > 1", "state.answer == 'x'", "state.ghost", "1 +", "size(state.items) == 0",
               "state.flag && input.message.contains('a')", "frob(1)", "", "x.y", "state.items.all(i, i > 0)"]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=6), st.floats(allow_nan=True)
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, SCALARS)


@st.composite
def nodes(draw: st.DrawFn) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": draw(maybe(st.sampled_from(IDS))),
        "type": draw(st.sampled_from(NODE_TYPES)),
    }
    optional = {
        "prompt": st.sampled_from(TEMPLATES), "message": st.sampled_from(TEMPLATES),
        "output": st.sampled_from(FIELDS), "tool": st.sampled_from(["lookup", "missing"]),
        "workflow": st.sampled_from(["helper", "nothing", "main"]), "query": st.sampled_from(TEMPLATES),
        "args": st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(EXPRESSIONS), max_size=2),
        "assign": st.dictionaries(st.sampled_from(FIELDS), maybe(st.sampled_from(EXPRESSIONS)), max_size=3),
        "cases": st.lists(st.fixed_dictionaries({"when": st.sampled_from(EXPRESSIONS), "to": st.sampled_from(IDS)}),
                          max_size=3),
        "classes": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["x", "y", "Bad"])}), max_size=3),
        "default": st.sampled_from([*IDS, "x"]), "on_error": st.sampled_from(IDS),
        "timeout": maybe(st.floats(0, 10)), "retry": maybe(st.fixed_dictionaries({"max_attempts": st.integers(0, 12)})),
        "schema": maybe(st.fixed_dictionaries({"type": st.sampled_from(["object", "string"]),
                                                "properties": maybe(st.dictionaries(st.text(max_size=3), st.just({})))})),
        "tier": maybe(st.sampled_from(["small", "Large!"])), "model": maybe(st.just("m")),
        "history": maybe(st.integers(-1, 60)), "k": maybe(st.integers(-1, 60)), "unexpected": SCALARS,
    }  # fmt: skip
    for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=6, unique=True)):
        node[key] = draw(optional[key])
    return node


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "version": draw(st.sampled_from([1, 1, 1, 2, "1"])),
        "name": draw(st.sampled_from(["main", "main", "Main", ""])),
        "state": draw(st.dictionaries(st.sampled_from(FIELDS), st.fixed_dictionaries(
            {"type": st.sampled_from(TYPES)}, optional={"default": SCALARS}), max_size=4)),
        "nodes": draw(st.lists(nodes(), max_size=5)),
        "edges": draw(st.lists(st.fixed_dictionaries(
            {"from": st.sampled_from(IDS), "to": st.sampled_from(IDS)},
            optional={"when": st.sampled_from(EXPRESSIONS)}), max_size=5)),
    }  # fmt: skip
    for key in draw(
        st.lists(st.sampled_from(["entry", "limits", "inputs", "bogus"]), max_size=2, unique=True)
    ):
        spec[key] = draw(st.one_of(st.sampled_from(IDS), st.fixed_dictionaries({"max_steps": st.integers(-1, 5)}),
                                   SCALARS))  # fmt: skip
    return spec


VALID_NODES: dict[str, dict[str, Any]] = {
    "respond": {"message": "Hi {state.answer} / {input.message}"},
    "set": {"assign": {"n": "state.n + 1", "flag": "state.n > 2"}},
    "branch": {"cases": [{"when": "state.flag", "to": "end"}]},
    "tool": {"tool": "lookup", "args": {"q": "input.message"}, "output": "answer"},
    "retrieve": {"output": "items"},
    "llm": {"prompt": "{input.message}", "output": "answer", "context": "items"},
    "classify": {"classes": [{"name": "x"}, {"name": "y"}], "output": "answer"},
    "handoff": {"output": "answer", "message": "wait"},
    "subworkflow": {"workflow": "helper"},
}


@st.composite
def mostly_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A sound workflow, then up to two random mutations (so both outcomes are exercised)."""
    count = draw(st.integers(1, 4))
    ids = ["a", "b", "c", "d"][:count]
    kinds = [draw(st.sampled_from(sorted(VALID_NODES))) for _ in ids]
    spec_nodes = [
        {"id": node_id, "type": kind, **copy.deepcopy(VALID_NODES[kind])}
        for node_id, kind in zip(ids, kinds, strict=True)
    ]
    edges = [{"from": ids[i], "to": ids[i + 1]} for i in range(count - 1)]
    if count > 1 and draw(st.booleans()):
        edges.append({"from": ids[-1], "to": ids[0], "when": "state.n < 3"})
    spec: dict[str, Any] = {
        "version": 1, "name": "main", "nodes": spec_nodes, "edges": edges,
        "state": {"answer": {"type": "string"}, "items": {"type": "list"}, "n": {"type": "integer"},
                  "flag": {"type": "boolean"}},
    }  # fmt: skip
    for _ in range(draw(st.integers(0, 2))):
        target: Any = spec
        while isinstance(target, dict | list) and target and draw(st.booleans()):
            key = draw(
                st.sampled_from(
                    list(target) if isinstance(target, dict) else list(range(len(target)))
                )
            )
            if not isinstance(target[key], dict | list):
                break
            target = target[key]
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target, key=str)))
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(
                    st.one_of(SCALARS, st.sampled_from(IDS + FIELDS + EXPRESSIONS + TEMPLATES))
                )
    return spec


HELPER = load_workflow(
    {"version": 1, "name": "helper", "nodes": [{"id": "x", "type": "respond", "message": "hi"}]}
)


def load_and_compile(source: Any) -> CompiledWorkflow | None:
    failure: WorkflowValidationError | None = None
    try:
        spec = load_workflow(source, tools={"lookup"}, workflows={"helper", "main"})
        return compile_workflow(
            spec, workflows={"helper": HELPER, spec.name: spec}, tools={"lookup"}
        )
    except WorkflowValidationError as exc:
        failure = exc
    assert failure.issues and all(isinstance(i.path, str) and i.message for i in failure.issues)
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(workflows(), mostly_valid(), mostly_valid()))
def test_generated_specs_compile_or_fail_validation(spec: dict[str, Any]) -> None:
    compiled = load_and_compile(spec)
    if compiled is not None:
        assert isinstance(compiled.spec, WorkflowSpec) and compiled.graph is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(workflows(), mostly_valid()))
def test_generated_specs_as_yaml_text_report_lines(spec: dict[str, Any]) -> None:
    text = yaml.safe_dump(spec, sort_keys=False)
    lines = text.count("\n") + 1
    failure: WorkflowValidationError | None = None
    try:
        load_workflow(text, tools={"lookup"}, workflows={"helper", "main"})
    except WorkflowValidationError as exc:
        failure = exc
    issues = failure.issues if failure else []
    assert all(i.line is None or 1 <= i.line <= lines for i in issues)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    load_and_compile(text)


@settings(max_examples=100, deadline=None)
@given(st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                    max_leaves=12))  # fmt: skip
def test_arbitrary_data_never_crashes_the_loader(data: Any) -> None:
    load_and_compile(data if isinstance(data, dict) else {"nodes": data})
