"""The DSL pieces: models, JSON Schema, templates and CEL expressions."""

from __future__ import annotations

import pytest
import yaml
from jsonschema import Draft202012Validator

from aiaas.orchestrator.library import shipped_sources
from aiaas.orchestrator.spec import workflow_json_schema
from aiaas.orchestrator.spec.expressions import (
    ExpressionError,
    check_expression,
    evaluate,
    evaluate_condition,
)
from aiaas.orchestrator.spec.models import FieldSpec, coerce, type_matches
from aiaas.orchestrator.spec.templates import TemplateError, parse_template, render, render_value


def test_json_schema_is_valid_and_accepts_the_shipped_workflows() -> None:
    schema = workflow_json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for name, text in shipped_sources().items():
        errors = list(validator.iter_errors(yaml.safe_load(text)))
        assert errors == [], f"{name}: {errors[:1]}"
    assert list(
        validator.iter_errors({"version": 1, "name": "x", "nodes": [{"id": "a", "type": "warp"}]})
    )


def test_field_types_and_coercion() -> None:
    assert type_matches("number", 3) and not type_matches("number", True)
    assert not type_matches("integer", 2.5) and type_matches("list", [])
    assert coerce("number", 2) == 2.0 and isinstance(coerce("number", 2), float)
    assert coerce("integer", 4.0) == 4
    with pytest.raises(TypeError):
        coerce("string", 5)
    assert (
        FieldSpec(type="object").initial() == {}
        and FieldSpec(type="number", default=1).initial() == 1.0
    )
    default = FieldSpec(type="list", default=[1])
    default.initial().append(2)
    assert default.initial() == [1]  # defaults are copied, never shared between conversations


def test_templates_render_state_and_input() -> None:
    scope = {
        "state": {"name": "Ana", "order": {"status": "shipped", "lines": [{"sku": "T1"}]}, "ok": True,
                  "score": 2.0, "missing": None},
        "input": {"message": "hi"},
    }  # fmt: skip
    text = "Hi {state.name}, {state.order.status} {state.order.lines.0.sku} {state.ok} {state.score}{state.missing}"
    assert render(text, scope) == "Hi Ana, shipped T1 true 2"
    assert render("{{literal}} {input.message}", scope) == "{literal} hi"
    assert render("{state.nothing.here}", scope) == ""
    passages = [{"title": "Returns", "text": "30 days."}, {"title": "", "text": "Ships fast."}]
    assert render_value(passages) == "[1] Returns\n30 days.\n\n[2] Passage\nShips fast."
    assert render_value({"b": 1, "a": [1]}) == '{"a": [1], "b": 1}'
    assert [str(p) for p in parse_template("{ state.a } and {input.b}").placeholders] == [
        "{state.a}",
        "{input.b}",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "{state.a",
        "a}",
        "{state}",
        "{env.HOME}",
        "{state.a b}",
        "{state.0}",
        "{state.__class__.x y}",
    ],
)
def test_templates_reject_anything_but_field_paths(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(bad)


def test_expressions_evaluate_over_the_state() -> None:
    scope = {"state": {"n": 2, "passages": [{"score": 0.7}], "email": "A@B.co", "tags": ["x", "y"]},
             "input": {"message": "order 42"}, "run": {"steps": 3}}  # fmt: skip
    assert evaluate("state.n * 2 + 1", scope) == 5
    assert evaluate_condition("size(state.passages) > 0 && state.passages[0].score > 0.5", scope)
    assert evaluate_condition('input.message.matches("[0-9]+")', scope)
    assert evaluate("state.email.lowerAscii()", scope) == "a@b.co"
    assert evaluate("state.tags.map(t, t + t)", scope) == ["xx", "yy"]
    assert evaluate("state.tags.exists(t, t == 'y')", scope) is True
    assert evaluate('{"a": [1, null]}', scope) == {"a": [1, None]}
    assert evaluate("run.steps", scope) == 3


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("state.n + 'x'", "no matching overload"),
        ("state.nope", "no such member"),
        ("1 / 0", "divide by zero"),
    ],
)
def test_expression_runtime_errors_are_reported(expression: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=fragment):
        evaluate(expression, {"state": {"n": 1}})


def test_conditions_must_be_boolean() -> None:
    with pytest.raises(ExpressionError, match="must be true or false"):
        evaluate_condition("1 + 1", {})


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("state.ghost == 1", "unknown state field 'ghost'"),
        ("input.email != ''", "unknown input 'email'"),
        ("run.secret", "unknown run value 'secret'"),
        ("os.system('x')", "unknown name 'os'"),
        ('__import__("os")', "unknown function '__import__'"),
        ("state.a.exec()", "unknown function 'exec'"),
        ("state.a ==", "invalid expression"),
        ("state.a = 1", "invalid expression"),
    ],
)
def test_expression_checks(expression: str, problem: str) -> None:
    problems = check_expression(expression, state_fields={"a"}, input_names={"message"})
    assert any(problem in p for p in problems), problems


def test_macro_variables_and_type_names_are_allowed() -> None:
    fine = ["state.a.all(x, x > 0)", "type(state.a) == list", "has(state.a)", "state['a'] == 1"]
    for expression in fine:
        assert check_expression(expression, state_fields={"a"}, input_names=set()) == []
    assert check_expression("state['b'] == 1", state_fields={"a"}, input_names=set()) == [
        "unknown state field 'b'"
    ]
