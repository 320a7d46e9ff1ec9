"""Conditions and assignments in CEL (Common Expression Language), evaluated safely over the state.

CEL has no loops, no I/O and no access to Python objects, so a tenant's expression can only read the
values it is given: ``state`` (the workflow's fields), ``input`` (the turn's inputs) and ``run``
(``steps``, ``tokens``, ``cost_micros`` and ``error``). Numbers follow CEL: ``number`` fields are
doubles (compare with ``0.5``), ``integer`` fields are ints (compare with ``2``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes, evaluation
from lark import Token, Tree

ROOTS = ("state", "input", "run")
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
_ENV = celpy.Environment()


def _lower(value: Any) -> Any:
    return celtypes.StringType(str(value).lower())


def _upper(value: Any) -> Any:
    return celtypes.StringType(str(value).upper())


def _trim(value: Any) -> Any:
    return celtypes.StringType(str(value).strip())


# From CEL's strings extension, which the evaluator does not ship.
EXTRA_FUNCTIONS: dict[str, Any] = {"lowerAscii": _lower, "upperAscii": _upper, "trim": _trim}
KNOWN_FUNCTIONS = (
    frozenset(name for name in evaluation.base_functions if name[:1].isalpha())
    | frozenset(EXTRA_FUNCTIONS)
    | {"has", "dyn"}
)


class ExpressionError(ValueError):
    """The expression does not parse, names something unknown, or failed to evaluate."""


@dataclass(frozen=True)
class Reference:
    root: str
    field: str


@dataclass(frozen=True)
class CompiledExpression:
    text: str
    program: Any
    references: frozenset[Reference]
    unknown_names: frozenset[str]
    unknown_functions: frozenset[str]
    whole_roots: frozenset[str] = frozenset(ROOTS)
    """Roots used other than as ``root.field`` (their whole value is handed to the evaluator)."""

    def activation(self, scope: dict[str, Any]) -> dict[str, Any]:
        """What the expression can read: whole roots, or just the referenced fields of a root."""
        values: dict[str, Any] = {}
        for root in ROOTS:
            value = scope.get(root) or {}
            if root in self.whole_roots or not isinstance(value, dict):
                values[root] = value
            else:
                values[root] = {
                    ref.field: value[ref.field]
                    for ref in self.references
                    if ref.root == root and ref.field in value
                }
        return values


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> CompiledExpression:
    """Parse ``text`` once; raises :class:`ExpressionError` with the parser's message."""
    if not text.strip():
        raise ExpressionError("empty expression")
    try:
        ast = _ENV.compile(text)
        program = _ENV.program(ast, functions=EXTRA_FUNCTIONS)
    except RecursionError:
        raise ExpressionError("expression is nested too deeply") from None
    except Exception as exc:  # celpy and lark raise several unrelated types for bad syntax
        message = " ".join(str(exc).split())
        raise ExpressionError(f"invalid expression: {message[:300]}") from None
    references, names, functions, whole = _scan(ast)
    return CompiledExpression(
        text,
        program,
        frozenset(references),
        frozenset(names),
        frozenset(functions - KNOWN_FUNCTIONS),
        frozenset(whole),
    )


def _scan(tree: Tree) -> tuple[set[Reference], set[str], set[str], set[str]]:
    """The ``root.field`` references, the free names (other than roots and macro variables), the
    functions called and the roots used whole (not only through ``root.field``)."""
    uses = dict.fromkeys(ROOTS, 0)
    as_field = dict.fromkeys(ROOTS, 0)
    references: set[Reference] = set()
    functions: set[str] = set()
    idents: set[str] = set()
    bound: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "member_dot" and len(node.children) == 2:
            root = _root_ident(node.children[0])
            if root in ROOTS and isinstance(node.children[1], Token):
                references.add(Reference(root, str(node.children[1])))
                as_field[root] += 1
        elif node.data == "member_index" and len(node.children) == 2:
            root = _root_ident(node.children[0])
            key = _string_literal(node.children[1])
            if root in ROOTS and key is not None:
                references.add(Reference(root, key))
                as_field[root] += 1
        elif node.data == "member_dot_arg" and len(node.children) >= 2:
            method = node.children[1]
            args = node.children[2] if len(node.children) > 2 else None
            if str(method) not in _MACROS:
                functions.add(str(method))
            if str(method) in _MACROS and isinstance(args, Tree) and args.children:
                variable = _bare_ident(args.children[0])
                if variable:
                    bound.add(variable)
        elif node.data == "ident" and node.children:
            idents.add(str(node.children[0]))
            if str(node.children[0]) in uses:
                uses[str(node.children[0])] += 1
        elif node.data == "ident_arg" and node.children:
            functions.add(str(node.children[0]))
    whole = {root for root in ROOTS if uses[root] > as_field[root] or root in bound}
    return references, idents - set(ROOTS) - bound - _TYPE_NAMES, functions, whole


def _root_ident(node: Any) -> str | None:
    while isinstance(node, Tree) and node.data in ("member", "primary") and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, Tree) and node.data == "ident" and node.children:
        return str(node.children[0])
    return None


def _bare_ident(node: Any) -> str | None:
    while isinstance(node, Tree) and len(node.children) == 1 and node.data != "ident":
        node = node.children[0]
    if isinstance(node, Tree) and node.data == "ident" and node.children:
        return str(node.children[0])
    return None


def _string_literal(node: Any) -> str | None:
    while isinstance(node, Tree) and len(node.children) == 1 and node.data != "literal":
        node = node.children[0]
    if isinstance(node, Tree) and node.data == "literal" and node.children:
        raw = str(node.children[0])
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            return raw[1:-1]
    return None


def check_expression(text: str, *, state_fields: set[str], input_names: set[str]) -> list[str]:
    """Problems of ``text`` against the declared fields (empty when it is fine)."""
    try:
        compiled = compile_expression(text)
    except ExpressionError as exc:
        return [str(exc)]
    problems = [
        f"unknown name {name!r} (use state., input. or run.)"
        for name in sorted(compiled.unknown_names)
    ]
    problems += [f"unknown function {name!r}" for name in sorted(compiled.unknown_functions)]
    for ref in sorted(compiled.references, key=lambda r: (r.root, r.field)):
        if ref.root == "state" and ref.field not in state_fields:
            problems.append(f"unknown state field {ref.field!r}")
        elif ref.root == "input" and ref.field not in input_names:
            problems.append(f"unknown input {ref.field!r}")
        elif ref.root == "run" and ref.field not in ("steps", "tokens", "cost_micros", "error"):
            problems.append(f"unknown run value {ref.field!r}")
    return problems


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """The value of ``text`` over ``scope`` as plain JSON-like Python; raises
    :class:`ExpressionError`."""
    compiled = compile_expression(text)
    readable = compiled.activation(scope)
    key = _memo_key(text, readable)
    if key is not None and key in _MEMO:
        return _MEMO[key]
    activation = {root: celpy.json_to_cel(value) for root, value in readable.items()}
    try:
        result = compiled.program.evaluate(activation)
    except RecursionError:
        raise ExpressionError(f"{text!r}: evaluation nested too deeply") from None
    except Exception as exc:  # CELEvalError and the Python errors it wraps
        raise ExpressionError(f"{text!r}: {_reason(exc)}") from None
    if isinstance(result, celpy.CELEvalError):
        raise ExpressionError(f"{text!r}: {_reason(result)}")
    value = to_python(result)
    if key is not None and (value is None or isinstance(value, bool | int | float | str)):
        # CEL is pure: the same expression over the same values gives the same scalar.
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = value
    return value


_MEMO: dict[tuple[str, str], Any] = {}
_MEMO_SIZE = 8_192


def _memo_key(text: str, values: dict[str, Any]) -> tuple[str, str] | None:
    try:
        encoded = json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return (text, encoded) if len(encoded) <= 4_096 else None


def evaluate_condition(text: str, scope: dict[str, Any]) -> bool:
    """The truth of a condition; anything but a boolean result is an error."""
    value = evaluate(text, scope)
    if not isinstance(value, bool):
        raise ExpressionError(f"{text!r}: a condition must be true or false, got {value!r}")
    return value


def _reason(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    message = str(args[0]) if args else str(exc)
    message = message.split(" (in activation")[0]  # the evaluator appends its whole environment
    return " ".join(message.split())[:300]


def to_python(value: Any) -> Any:
    """CEL values as JSON-like Python values."""
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {str(to_python(k)): to_python(v) for k, v in value.items()}
    return str(value)
