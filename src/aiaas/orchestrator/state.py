"""The state a workflow graph carries (and the checkpointer stores) between steps and turns.

* ``inputs``: this turn's inputs (``message`` and the declared ones);
* ``vars``: the workflow's declared state fields, kept across turns;
* ``history``: the conversation (``{"role", "content"}``), kept across turns, bounded;
* ``replies``: what was said to the customer during this turn;
* ``run``: bookkeeping of this turn (status, steps, tokens, cost, error, path, handoff).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

HISTORY_LIMIT = 40

RUNNING, COMPLETED, STOPPED, FAILED = "running", "completed", "stopped", "failed"


class RunState(TypedDict, total=False):
    inputs: dict[str, Any]
    vars: dict[str, Any]
    history: list[dict[str, Any]]
    replies: list[dict[str, Any]]
    run: dict[str, Any]


def new_run(workflow: str, limits: dict[str, Any]) -> dict[str, Any]:
    """Bookkeeping for a fresh turn."""
    return {
        "workflow": workflow,
        "status": RUNNING,
        "stop_reason": None,
        "steps": 0,
        "tokens": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_micros": 0,
        "llm_calls": 0,
        "error": None,
        "failed_node": None,
        "next": None,
        "path": [],
        "handoff": None,
        "limits": limits,
    }


@dataclass(frozen=True)
class View:
    """A read-only look at the state for a node, plus the scope templates and expressions see."""

    inputs: dict[str, Any]
    vars: dict[str, Any]
    history: list[dict[str, Any]]
    run: dict[str, Any]
    replies: list[dict[str, Any]]

    @classmethod
    def of(cls, state: RunState) -> View:
        return cls(
            inputs=dict(state.get("inputs") or {}),
            vars=dict(state.get("vars") or {}),
            history=list(state.get("history") or []),
            run=dict(state.get("run") or {}),
            replies=list(state.get("replies") or []),
        )

    def scope(self) -> dict[str, Any]:
        """``state``, ``input`` and ``run`` as templates and expressions read them."""
        return {"state": self.vars, "input": self.inputs, "run": public_run(self.run)}

    @property
    def message(self) -> str:
        return str(self.inputs.get("message") or "")


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """The part of ``run`` that expressions may read."""
    return {
        "steps": int(run.get("steps", 0)),
        "tokens": int(run.get("tokens", 0)),
        "cost_micros": int(run.get("cost_micros", 0)),
        "error": run.get("error") or {},
    }
