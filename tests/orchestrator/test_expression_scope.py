"""Expressions read only what they reference (whole roots when used whole), and repeated
evaluations over the same values give the same results."""

from __future__ import annotations

from aiaas.orchestrator.spec.expressions import compile_expression, evaluate, evaluate_condition

SCOPE = {
    "state": {"a": 2, "b": 3, "items": [1, 5], "name": "Ann", "big": ["x" * 100] * 50},
    "input": {"message": "hi"},
    "run": {"steps": 1, "tokens": 0, "cost_micros": 0, "error": {}},
}


def test_only_referenced_fields_are_handed_over() -> None:
    compiled = compile_expression("state.a + state.b > 4 && input.message == 'hi'")
    assert compiled.activation(SCOPE)["state"] == {"a": 2, "b": 3}
    assert compiled.activation(SCOPE)["run"] == {}
    whole = compile_expression('"name" in state')
    assert "state" in whole.whole_roots and whole.activation(SCOPE)["state"] == SCOPE["state"]


def test_results_are_the_same_narrowed_and_repeated() -> None:
    cases = {
        "state.a + state.b": 5,
        "has(state.missing)": False,
        "has(state.name) && state.name.lowerAscii() == 'ann'": True,
        "state.items.exists(i, i > 4)": True,
        '"big" in state': True,
        "size(state.big)": 50,
        "run.steps + 1": 2,
    }
    for _ in range(2):  # second time from the memo
        for text, expected in cases.items():
            assert evaluate(text, SCOPE) == expected, text
    changed = {**SCOPE, "state": {**SCOPE["state"], "a": 10}}
    assert evaluate("state.a + state.b", changed) == 13
    assert evaluate_condition("state.a > 5", changed) and not evaluate_condition(
        "state.a > 5", SCOPE
    )
    assert evaluate("[state.a, state.b]", SCOPE) == [2, 3]
