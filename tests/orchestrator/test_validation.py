"""Load-time checks: every issue names its YAML path and, from YAML text, its line."""

from __future__ import annotations

import pytest

from aiaas.orchestrator.compiler import compile_workflow, load_workflow
from aiaas.orchestrator.errors import Issue, WorkflowValidationError
from aiaas.orchestrator.spec.models import WorkflowSpec


def issues_of(text: str, **kwargs: object) -> list[Issue]:
    with pytest.raises(WorkflowValidationError) as raised:
        load_workflow(text, **kwargs)  # type: ignore[arg-type]
    return raised.value.issues


def find(issues: list[Issue], path: str) -> Issue:
    matching = [i for i in issues if i.path == path]
    assert matching, f"no issue at {path}: {issues}"
    return matching[0]


HEAD = "version: 1\nname: demo\nstate:\n  answer: {type: string}\n  items: {type: list}\nnodes:\n"


def test_unknown_node_type_points_at_the_type_line() -> None:
    text = HEAD + "  - {id: a, type: respond, message: hi}\n  - id: b\n    type: teleport\n"
    issue = find(issues_of(text), "nodes[1].type")
    assert "unknown node type 'teleport'" in issue.message and issue.line == 9


def test_missing_tool_is_reported_with_the_available_ones() -> None:
    text = HEAD + "  - id: look\n    type: tool\n    tool: lookup_orders\n"
    issue = find(issues_of(text, tools={"lookup_order"}), "nodes[0].tool")
    assert (
        "unknown tool 'lookup_orders'" in issue.message
        and "lookup_order" in issue.message
        and issue.line == 9
    )


def test_edge_to_a_missing_node() -> None:
    text = HEAD + "  - {id: a, type: respond, message: hi}\nedges:\n  - from: a\n    to: nowhere\n"
    issue = find(issues_of(text), "edges[0].to")
    assert "unknown node 'nowhere'" in issue.message and issue.line == 10
    assert find(issues_of(text.replace("from: a", "from: ghost")), "edges[0].from").line == 9


def test_unreachable_node() -> None:
    text = (
        HEAD
        + "  - {id: a, type: respond, message: hi}\n  - {id: lonely, type: respond, message: hi}\n"
    )
    issue = find(issues_of(text), "nodes[1]")
    assert "'lonely' is not reachable" in issue.message and issue.line == 8


def test_cycle_without_exit_and_with_one() -> None:
    loop = HEAD + (
        "  - {id: a, type: respond, message: hi}\n  - {id: b, type: respond, message: again}\n"
        "edges:\n  - {from: a, to: b}\n  - {from: b, to: a}\n"
    )
    issue = find(issues_of(loop), "nodes[0]")
    assert issue.message == "cycle with no exit: a -> b"
    exits = loop.replace("{from: b, to: a}", "{from: b, to: a, when: size(state.items) < 3}")
    assert load_workflow(exits).name == "demo"


def test_missing_and_recursive_subworkflows() -> None:
    text = HEAD + "  - {id: sub, type: subworkflow, workflow: helper}\n"
    issue = find(issues_of(text, workflows={"other"}), "nodes[0].workflow")
    assert "unknown workflow 'helper'" in issue.message and issue.line == 7
    ping = load_workflow(text.replace("name: demo", "name: ping").replace("helper", "pong"))
    pong = load_workflow(text.replace("name: demo", "name: pong").replace("helper", "ping"))
    with pytest.raises(WorkflowValidationError, match="loop: ping -> pong -> ping"):
        compile_workflow(ping, workflows={"ping": ping, "pong": pong})
    self_call = text.replace("helper", "demo")
    assert "cannot run itself" in find(issues_of(self_call), "nodes[0].workflow").message


def test_template_with_an_unknown_field_or_bad_syntax() -> None:
    text = HEAD + "  - id: say\n    type: respond\n    message: 'Hello {state.nmae}'\n"
    issue = find(issues_of(text), "nodes[0].message")
    assert "{state.nmae} refers to an unknown state field" in issue.message and issue.line == 9
    assert (
        "unclosed"
        in find(
            issues_of(text.replace("{state.nmae}", "{state.answer")), "nodes[0].message"
        ).message
    )
    assert (
        "must look like"
        in find(issues_of(text.replace("state.nmae", "os.environ")), "nodes[0].message").message
    )
    assert (
        "unknown input"
        in find(issues_of(text.replace("state.nmae", "input.email")), "nodes[0].message").message
    )


def test_invalid_conditions_and_assignments() -> None:
    text = HEAD + (
        "  - id: pick\n    type: branch\n    cases:\n      - when: 'state.answer == '\n        to: pick\n"
        "    default: done\n  - {id: done, type: set, assign: {answer: 'state.missing + 1'}}\n"
        "edges:\n  - {from: done, to: end, when: 'lowercase(state.answer)'}\n"
    )
    found = issues_of(text)
    assert "invalid expression" in find(found, "nodes[0].cases[0].when").message
    assert find(found, "nodes[0].cases[0].when").line == 10
    assert "unknown state field 'missing'" in find(found, "nodes[1].assign.answer").message
    assert "unknown function 'lowercase'" in find(found, "edges[0].when").message


def test_unknown_names_keys_and_output_types() -> None:
    text = HEAD + (
        "  - {id: a, type: set, assign: {answer: 'answer + \"x\"', ghost: '1'}}\n"
        "  - {id: b, type: retrieve, output: answer, colour: blue}\n"
        "edges: [{from: a, to: b}]\n"
    )
    assert issues_of(text) == [
        Issue("nodes[1].colour", "unknown key", 8)
    ]  # shape first, then meaning
    text = text.replace(", colour: blue", "")
    found = issues_of(text)
    assert "unknown name 'answer'" in find(found, "nodes[0].assign.answer").message
    assert "unknown state field 'ghost'" in find(found, "nodes[0].assign.ghost").message
    assert "is string; expected list" in find(found, "nodes[1].output").message


def test_yaml_errors_and_shapes() -> None:
    assert issues_of("version: 1\nname: [unclosed\n")[0].line == 3
    assert issues_of("- just\n- a list\n")[0].message == "a workflow must be a mapping"
    assert "aliases" in issues_of("a: &x {b: 1}\nc: *x\n")[0].message
    missing = issues_of("version: 1\nname: demo\n")
    assert find(missing, "nodes").message == "required"
    assert find(issues_of(HEAD.replace("version: 1", "version: 2") + "  - {id: a, type: respond, message: x}\n"),
                "version").line == 1  # fmt: skip


def test_duplicate_ids_entry_and_defaults() -> None:
    text = (
        HEAD
        + "  - {id: a, type: respond, message: x}\n  - {id: a, type: respond, message: y}\nentry: zz\n"
    )
    found = issues_of(text)
    assert "duplicate node id 'a'" in find(found, "nodes[1].id").message
    assert "entry 'zz' is not a node" in find(found, "entry").message
    bad_default = HEAD.replace("answer: {type: string}", "answer: {type: string, default: 3}")
    assert "default does not match" in find(issues_of(bad_default + "  - {id: a, type: respond, message: x}\n"),
                                            "state.answer").message  # fmt: skip


def test_error_is_a_422_problem_with_the_issue_list() -> None:
    with pytest.raises(WorkflowValidationError) as raised:
        load_workflow(HEAD + "  - {id: a, type: teleport}\n")
    error = raised.value
    assert error.status == 422 and error.code == "workflow_invalid" and error.workflow == "demo"
    problem = error.problem()
    assert problem["issues"][0] == {"path": "nodes[0].type", "line": 7,
                                    "message": problem["issues"][0]["message"]}  # fmt: skip


def test_dict_input_has_paths_without_lines() -> None:
    with pytest.raises(WorkflowValidationError) as raised:
        load_workflow({"version": 1, "name": "d", "nodes": [{"id": "a", "type": "tool", "tool": "x"}]},
                      tools=set())  # fmt: skip
    assert raised.value.issues == [
        Issue("nodes[0].tool", "unknown tool 'x' (available: none)", None)
    ]
    assert isinstance(load_workflow({"version": 1, "name": "d", "nodes": [{"id": "a", "type": "branch",
                      "cases": [{"when": "true", "to": "end"}]}]}), WorkflowSpec)  # fmt: skip
