"""How a spec node runs inside the graph: limits, timeout, retries, ``on_error``, routing, events.

Every step returns the whole new value of the channels it changes (the graph never runs two steps at
once, so no reducers are needed) and decides where the run goes next (``run.next``); the graph's
conditional edges only read that decision. Conditions are therefore evaluated once, inside the step,
and a failing condition is a failure of that step like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.graph import END as GRAPH_END
from langgraph.runtime import Runtime
from langgraph.types import Command
from opentelemetry import trace

from aiaas.kit.errors import AppError
from aiaas.kit.resilience import RetryPolicy, retry_async
from aiaas.orchestrator.context import NodeContext, WorkflowEvent
from aiaas.orchestrator.nodes.base import Outcome, Step
from aiaas.orchestrator.spec.checks import Transition
from aiaas.orchestrator.spec.expressions import ExpressionError, evaluate_condition
from aiaas.orchestrator.spec.models import WorkflowSpec, coerce, type_matches
from aiaas.orchestrator.spec.nodes import END, NodeBase
from aiaas.orchestrator.state import (
    FAILED,
    HISTORY_LIMIT,
    RUNNING,
    STOPPED,
    RunState,
    View,
    new_run,
)

_tracer = trace.get_tracer("aiaas.orchestrator")
GraphFn = Callable[[RunState, Runtime[NodeContext]], Awaitable[Command[str]]]
BEGIN = "__begin"
"""The graph name of the step that opens every run."""
StepFn = Callable[[RunState, NodeContext], Awaitable[dict[str, Any]]]
"""One step of a workflow: the new whole values of the channels it changes (``run.next`` says
where the run goes next)."""


RETURN = ".return"
"""Suffix of the step a subworkflow's run returns to in its calling node."""


@dataclass(frozen=True)
class Scope:
    """Where one workflow's steps sit in the compiled graph.

    A subworkflow's steps are compiled into its caller's graph (one graph, one LangGraph loop per
    turn, a handoff inside it pausing the whole run), under the calling node's name as a prefix;
    when the subworkflow ends, its run goes to the calling node's return step instead of the end.
    """

    prefix: str = ""
    exit: str = GRAPH_END

    def name(self, node_id: str, suffix: str = "") -> str:
        """The graph name of a spec node's step."""
        return self.prefix + node_id + suffix

    def dest(self, target: str) -> str:
        """The graph name an edge to ``target`` leads to."""
        return self.exit if target == END else self.name(target)

    def inside(self, node_id: str) -> Scope:
        """The scope of the subworkflow that node ``node_id`` calls."""
        return Scope(self.name(node_id) + ">", self.name(node_id, RETURN))


ROOT = Scope()


def step_limit(max_steps: int) -> int:
    """How many steps a turn may take in LangGraph's count: generous above ``max_steps``, which
    each step enforces itself with a clear reason."""
    return max_steps * 2 + 10


def next_step(update: Mapping[str, Any], exit: str = GRAPH_END) -> str:
    """Where the run goes after a step: its ``run.next``, or ``exit`` (the end of the step's
    workflow) once the run stopped."""
    run = update.get("run")
    if run is None or run.get("status") != RUNNING:
        return exit
    return str(run.get("next") or exit)


class StepChain:
    """Every step of one compiled graph (its subworkflows' steps included) by graph name, run as
    chains inside single LangGraph steps.

    LangGraph costs about half a millisecond per superstep (task preparation, channel writes,
    checkpoint bookkeeping) whatever the node does, and a customer turn is mostly short,
    deterministic steps. So a graph node runs its own step and then, in the same superstep, every
    step the run moves on to, until the run ends or reaches a step that may pause it (a handoff's
    wait). Such a step always starts a superstep of its own:
    when a paused run resumes, LangGraph re-runs the paused node from its beginning, and nothing
    before it in the turn may run twice. Each step still enforces its own limits, timeout,
    retries and ``on_error``, and publishes its own events; checkpoints are written at the end of
    a turn either way.
    """

    def __init__(self, bound: int) -> None:
        self.steps: dict[str, StepFn] = {}
        self.exits: dict[str, str] = {}
        self.pauses: set[str] = set()
        # A chain stops at this length and lets LangGraph continue (its recursion limit applies);
        # the steps' own ``max_steps`` check normally stops a looping run long before.
        self.bound = bound

    def add(self, name: str, step: StepFn, *, pauses: bool = False, exit: str = GRAPH_END) -> None:
        """Add step ``name``; ``exit`` is where the run goes when it ends or stops there."""
        self.steps[name] = step
        self.exits[name] = exit
        if pauses:
            self.pauses.add(name)

    async def advance(
        self, first: str, state: RunState, ctx: NodeContext
    ) -> tuple[dict[str, Any], str]:
        """Run ``first`` and the steps after it; returns the merged update and the next step."""
        merged: dict[str, Any] = {}
        current = first
        for _ in range(self.bound):
            update = await self.steps[current](state, ctx)
            current = next_step(update, self.exits[current])
            if update:
                # every step writes whole channel values, so a later one simply replaces them
                merged.update(update)
                state = {**state, **update}  # type: ignore[typeddict-item]
            if current == GRAPH_END or current in self.pauses:
                break
        return merged, current

    def graph_node(self, name: str) -> GraphFn:
        """The LangGraph node for step ``name``: its chain, routed with a ``Command``.

        A ``Command`` instead of a conditional edge: an edge is a second task per step for
        LangGraph (a fresh read of the state and a router call).
        """

        async def node(state: RunState, runtime: Runtime[NodeContext]) -> Command[str]:
            update, then = await self.advance(name, state, runtime.context)
            return Command(update=update, goto=then)

        return node


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, GraphBubbleUp | ExpressionError | TypeError | ValueError | LookupError):
        return False
    if isinstance(exc, AppError):
        return exc.status >= 500
    return True


def _stop(run: dict[str, Any], reason: str, status: str = STOPPED) -> dict[str, Any]:
    return {**run, "status": status, "stop_reason": reason, "next": None}


def _limits_reason(run: dict[str, Any]) -> str | None:
    limits = run.get("limits") or {}
    if run.get("tokens", 0) > limits.get("max_tokens", float("inf")):
        return f"max_tokens: used {run['tokens']} of {limits['max_tokens']} tokens"
    if run.get("cost_micros", 0) > limits.get("max_cost_micros", float("inf")):
        spent, budget = run["cost_micros"], limits["max_cost_micros"]
        return f"max_cost_micros: spent {spent} of {budget} micro-dollars"
    return None


def make_begin(
    spec: WorkflowSpec, *, root: bool, limits: dict[str, Any], scope: Scope = ROOT
) -> StepFn:
    """The first step of a workflow: fresh turn bookkeeping (root only) and state-field
    defaults."""

    async def begin(state: RunState, _ctx: NodeContext) -> dict[str, Any]:
        variables = dict(state.get("vars") or {})
        for name, declared in spec.state.items():
            if name not in variables or not type_matches(declared.type, variables[name]):
                variables[name] = declared.initial()
        if not root:
            run = {**(state.get("run") or {}), "next": scope.name(spec.entry_node)}
            return {"vars": variables, "run": run}
        run = new_run(spec.name, limits)
        run["next"] = scope.name(spec.entry_node)
        history = list(state.get("history") or [])
        message = str((state.get("inputs") or {}).get("message") or "")
        if message:
            history.append({"role": "user", "content": message})
        return {"vars": variables, "run": run, "replies": [], "history": history[-HISTORY_LIMIT:]}

    return begin


def make_step(
    spec: WorkflowSpec,
    node: NodeBase,
    step: Step,
    *,
    moves: Sequence[Transition],
    then: str | None,
    scope: Scope = ROOT,
) -> StepFn:
    """Wrap ``step`` of ``node``; ``then`` is the next step of the same node (``None`` for the
    last)."""
    policy = RetryPolicy(
        max_attempts=node.retry.max_attempts if step.retries else 1,
        initial_backoff=node.retry.backoff_seconds,
        max_backoff=node.retry.max_backoff_seconds,
    )
    node_type = str(getattr(node, "type", ""))

    async def attempt(view: View, ctx: NodeContext) -> Outcome:
        async with asyncio.timeout(node.timeout):
            return await step.run(view, ctx)

    async def step_update(state: RunState, ctx: NodeContext) -> dict[str, Any]:
        run = dict(state.get("run") or {})
        if run.get("status") != RUNNING:
            return {}
        if step.counts:
            stopped = await _open_node(spec, node, run, ctx)
            if stopped is not None:
                return stopped
        view = View.of({**state, "run": run})
        started = time.perf_counter()
        with _tracer.start_as_current_span(f"workflow.node.{node_type}") as span:
            span.set_attribute("workflow.name", spec.name)
            span.set_attribute("workflow.node", node.id)
            if ctx.tenant_id:
                span.set_attribute("tenant.id", ctx.tenant_id)
            try:
                outcome = await retry_async(
                    lambda _n: attempt(view, ctx), policy=policy, retryable=_retryable
                )
                update = _apply(spec, view, outcome)
                said, usage = outcome.replies, _usage(outcome)
                update["run"]["next"] = (
                    scope.name(node.id, then) if then else _choose(moves, update, scope)
                )
            except GraphBubbleUp:
                raise
            except Exception as exc:
                span.record_exception(exc)
                return await _failed(spec, node, run, exc, ctx, scope)
        update["run"]["failed_node"] = None
        reason = _limits_reason(update["run"])
        if reason:
            update["run"] = _stop(update["run"], reason)
        for reply in said:
            await ctx.publish(WorkflowEvent("message", spec.name, node.id, dict(reply)))
        if step.counts or not then:
            millis = round((time.perf_counter() - started) * 1000, 1)
            await ctx.publish(
                WorkflowEvent("node.completed", spec.name, node.id, {"ms": millis, **usage})
            )
        return update

    return step_update


async def _open_node(
    spec: WorkflowSpec, node: NodeBase, run: dict[str, Any], ctx: NodeContext
) -> dict[str, Any] | None:
    """Count a node's step against ``max_steps`` (the stopping update when the limit is
    reached) and announce it."""
    limit = int((run.get("limits") or {}).get("max_steps", 1_000))
    if int(run.get("steps", 0)) >= limit:
        return {"run": _stop(run, f"max_steps: reached the limit of {limit} steps")}
    run["steps"] = int(run.get("steps", 0)) + 1
    run["path"] = [*run.get("path", []), f"{spec.name}/{node.id}"]
    node_type = str(getattr(node, "type", ""))
    await ctx.publish(WorkflowEvent("node.started", spec.name, node.id, {"type": node_type}))
    return None


def make_call(
    spec: WorkflowSpec, node: NodeBase, *, moves: Sequence[Transition], scope: Scope
) -> tuple[StepFn, StepFn]:
    """The two steps of a ``subworkflow`` node around the called workflow's own steps: entering
    it, and returning from it (routing on, or taking ``on_error`` when it failed inside)."""
    inner = scope.inside(node.id)
    no_usage = {"input_tokens": 0, "output_tokens": 0, "cost_micros": 0, "llm_calls": 0}

    async def enter(state: RunState, ctx: NodeContext) -> dict[str, Any]:
        run = dict(state.get("run") or {})
        if run.get("status") != RUNNING:
            return {}
        stopped = await _open_node(spec, node, run, ctx)
        if stopped is not None:
            return stopped
        # wall-clock time: a handoff inside may keep the call open across processes
        run["entered"] = {**(run.get("entered") or {}), inner.prefix: time.time()}
        run["next"] = inner.name(BEGIN)
        return {"run": run}

    async def back(state: RunState, ctx: NodeContext) -> dict[str, Any]:
        run = dict(state.get("run") or {})
        status = run.get("status")
        if status == FAILED and node.on_error is not None:
            run.update(status=RUNNING, stop_reason=None, failed_node=node.id,
                       next=scope.dest(node.on_error))  # fmt: skip
        elif status != RUNNING:
            return {}  # stopped by a limit, or failed with no on_error here: the run ends
        else:
            run["failed_node"] = None
            run["next"] = _choose(moves, {**state, "run": run}, scope)
        entered = dict(run.get("entered") or {})
        began = entered.pop(inner.prefix, None)
        run["entered"] = entered
        millis = round((time.time() - began) * 1000, 1) if began is not None else 0.0
        await ctx.publish(
            WorkflowEvent("node.completed", spec.name, node.id, {"ms": millis, **no_usage})
        )
        return {"run": run}

    return enter, back


def _apply(spec: WorkflowSpec, view: View, outcome: Outcome) -> dict[str, Any]:
    """The new channel values after ``outcome`` (field types enforced)."""
    variables, history, replies = dict(view.vars), list(view.history), list(view.replies)
    run = dict(outcome.run) if outcome.run is not None else dict(view.run)
    for name, value in outcome.updates.items():
        declared = spec.state.get(name)
        if declared is None:
            raise LookupError(f"unknown state field {name!r}")
        try:
            variables[name] = coerce(declared.type, value)
        except TypeError as exc:
            raise TypeError(f"state field {name!r}: {exc}") from None
    for reply in outcome.replies:
        replies.append(reply)
        history.append(
            {"role": reply.get("role", "assistant"), "content": reply.get("content", "")}
        )
    for call in outcome.calls:
        run["input_tokens"] = run.get("input_tokens", 0) + call.usage.input_tokens
        run["output_tokens"] = run.get("output_tokens", 0) + call.usage.output_tokens
        run["tokens"] = run.get("tokens", 0) + call.usage.total_tokens
        run["cost_micros"] = run.get("cost_micros", 0) + call.cost_micros
        run["llm_calls"] = run.get("llm_calls", 0) + 1
    return {"vars": variables, "history": history[-HISTORY_LIMIT:], "replies": replies, "run": run}


def _usage(outcome: Outcome) -> dict[str, int]:
    return {
        "input_tokens": sum(c.usage.input_tokens for c in outcome.calls),
        "output_tokens": sum(c.usage.output_tokens for c in outcome.calls),
        "cost_micros": sum(c.cost_micros for c in outcome.calls),
        "llm_calls": len(outcome.calls),
    }


def _choose(moves: Sequence[Transition], update: Mapping[str, Any], scope: Scope) -> str:
    """The first transition whose condition holds over the updated state (the workflow ends if
    none)."""
    values = View.of(update).scope()  # type: ignore[arg-type]
    for move in moves:
        if move.when is None or evaluate_condition(move.when, values):
            return scope.dest(move.target)
    return scope.exit


async def _failed(
    spec: WorkflowSpec,
    node: NodeBase,
    run: dict[str, Any],
    exc: Exception,
    ctx: NodeContext,
    scope: Scope,
) -> dict[str, Any]:
    code = exc.code if isinstance(exc, AppError) else type(exc).__name__
    message = " ".join(str(exc).split())[:500] or type(exc).__name__
    error = {"workflow": spec.name, "node": node.id, "code": code, "message": message}
    await ctx.publish(
        WorkflowEvent("node.failed", spec.name, node.id, {"code": code, "message": message})
    )
    run = {**run, "error": error}
    if node.on_error is not None:
        return {"run": {**run, "failed_node": node.id, "next": scope.dest(node.on_error)}}
    return {"run": _stop(run, f"node {node.id!r} failed: {message}", FAILED)}
