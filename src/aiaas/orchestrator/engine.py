"""Running compiled workflows for conversation turns: limits, streaming events, handoff and resume.

One conversation is one LangGraph thread per workflow (``tenant:conversation:workflow``); the
checkpointer keeps the workflow's state fields and history between turns and holds a waiting handoff
until an agent resolves it, even across process restarts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from aiaas.kit.errors import Conflict
from aiaas.orchestrator.compiler import CompiledWorkflow
from aiaas.orchestrator.context import EmitFn, NodeContext, WorkflowEvent
from aiaas.orchestrator.errors import WorkflowInputError
from aiaas.orchestrator.nodes.handoff import HandoffResolution
from aiaas.orchestrator.spec.models import BUILTIN_INPUTS, WorkflowSpec, coerce
from aiaas.orchestrator.state import FAILED, STOPPED

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 32_000
TurnStatus = Literal["completed", "waiting_for_agent", "stopped", "failed"]


class HandoffPending(Conflict):
    """The conversation waits for a human agent; resolve the handoff before a new turn."""

    code, title = "handoff_pending", "Waiting for a human agent"


class NoHandoffPending(Conflict):
    code, title = "no_handoff_pending", "No handoff is waiting"


@dataclass(frozen=True)
class TurnUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    llm_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class TurnResult:
    """The outcome of one turn (or of a resume)."""

    status: TurnStatus
    replies: list[dict[str, Any]]
    usage: TurnUsage
    steps: int
    path: list[str]
    state: dict[str, Any]
    stop_reason: str | None = None
    error: dict[str, Any] | None = None
    handoff: dict[str, Any] | None = None
    thread_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies the whole state on every turn.
        usage = self.usage
        return {
            "status": self.status,
            "replies": [dict(reply) for reply in self.replies],
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_micros": usage.cost_micros,
                "llm_calls": usage.llm_calls,
                "total_tokens": usage.total_tokens,
            },
            "steps": self.steps,
            "path": list(self.path),
            "state": dict(self.state),
            "stop_reason": self.stop_reason,
            "error": dict(self.error) if self.error is not None else None,
            "handoff": dict(self.handoff) if self.handoff is not None else None,
            "thread_id": self.thread_id,
        }


def thread_id_for(tenant_id: str | None, conversation_id: str, workflow: str) -> str:
    """The checkpointer thread of a conversation running a workflow (tenants never share one)."""
    return f"{tenant_id or '-'}:{conversation_id}:{workflow}"


def turn_inputs(
    spec: WorkflowSpec, message: str, inputs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The turn's inputs checked against the declaration, defaults filled; raises on a mismatch."""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        raise WorkflowInputError(f"message must be text of at most {MAX_MESSAGE_CHARS} characters")
    given = dict(inputs or {})
    unknown = sorted(set(given) - set(spec.inputs) - set(BUILTIN_INPUTS))
    if unknown:
        raise WorkflowInputError(f"unknown inputs: {', '.join(unknown)}")
    values: dict[str, Any] = {"message": message}
    for name, declared in spec.inputs.items():
        if name in given and given[name] is not None:
            try:
                values[name] = coerce(declared.type, given[name])
            except TypeError as exc:
                raise WorkflowInputError(f"input {name!r}: {exc}") from None
        elif declared.required:
            raise WorkflowInputError(f"input {name!r} is required")
        elif declared.default is not None:
            values[name] = coerce(declared.type, declared.default)
    return values


@dataclass
class WorkflowEngine:
    """Runs compiled workflows (their graphs carry the checkpointer given to the compiler)."""

    stream_queue_size: int = field(default=1_000)
    durability: Literal["sync", "async", "exit"] = "exit"
    """When checkpoints are written: ``exit`` once per turn (at its end or at a handoff), which
    keeps a turn to one checkpoint write; ``sync``/``async`` after every step."""

    async def run_turn(
        self,
        workflow: CompiledWorkflow,
        *,
        conversation_id: str,
        message: str,
        context: NodeContext,
        inputs: Mapping[str, Any] | None = None,
        check_handoff: bool = True,
    ) -> TurnResult:
        """Run one customer turn to its end, a handoff, a limit or a failure.

        ``check_handoff=False`` skips reading the checkpoint for a waiting handoff, for callers
        that already know none waits (the service checks its runs table, which also covers the
        conversation's other workflows).
        """
        thread = thread_id_for(context.tenant_id, conversation_id, workflow.spec.name)
        if check_handoff and await self.pending_handoff(
            workflow, conversation_id=conversation_id, tenant_id=context.tenant_id
        ):
            raise HandoffPending("the conversation is waiting for a human agent")
        payload = {"inputs": turn_inputs(workflow.spec, message, inputs)}
        return await self._execute(workflow, thread, payload, context)

    async def resume(
        self,
        workflow: CompiledWorkflow,
        *,
        conversation_id: str,
        resolution: HandoffResolution | Mapping[str, Any],
        context: NodeContext,
    ) -> TurnResult:
        """Continue a conversation waiting for an agent with the agent's answer or a hand-back."""
        if workflow.graph.checkpointer is None:
            raise NoHandoffPending("resuming needs a checkpointer")
        checked = HandoffResolution.model_validate(resolution)
        thread = thread_id_for(context.tenant_id, conversation_id, workflow.spec.name)
        if not await self.pending_handoff(
            workflow, conversation_id=conversation_id, tenant_id=context.tenant_id
        ):
            raise NoHandoffPending("this conversation is not waiting for an agent")
        return await self._execute(workflow, thread, Command(resume=checked.model_dump()), context)

    async def pending_handoff(
        self, workflow: CompiledWorkflow, *, conversation_id: str, tenant_id: str | None
    ) -> dict[str, Any] | None:
        """The handoff a conversation waits on (its reason, priority, node), or ``None``."""
        if workflow.graph.checkpointer is None:
            return None
        config = {
            "configurable": {
                "thread_id": thread_id_for(tenant_id, conversation_id, workflow.spec.name)
            }
        }
        snapshot = await workflow.graph.aget_state(config, subgraphs=True)
        return _interrupt_of(snapshot)

    def stream_turn(
        self,
        workflow: CompiledWorkflow,
        *,
        conversation_id: str,
        message: str,
        context: NodeContext,
        inputs: Mapping[str, Any] | None = None,
        check_handoff: bool = True,
    ) -> TurnStream:
        """The events of :meth:`run_turn` as they happen; the last one is ``run.finished``."""
        return self._stream(
            context,
            lambda ctx: self.run_turn(
                workflow,
                conversation_id=conversation_id,
                message=message,
                context=ctx,
                inputs=inputs,
                check_handoff=check_handoff,
            ),
        )

    def stream_resume(
        self,
        workflow: CompiledWorkflow,
        *,
        conversation_id: str,
        resolution: HandoffResolution | Mapping[str, Any],
        context: NodeContext,
    ) -> TurnStream:
        """The events of :meth:`resume` as they happen; the last one is ``run.finished``."""
        return self._stream(
            context,
            lambda ctx: self.resume(
                workflow, conversation_id=conversation_id, resolution=resolution, context=ctx
            ),
        )

    # ---- internals ----------------------------------------------------------------------------
    def _stream(
        self, context: NodeContext, start: Callable[[NodeContext], Awaitable[TurnResult]]
    ) -> TurnStream:
        return TurnStream(context, start, self.stream_queue_size)

    async def _execute(
        self, workflow: CompiledWorkflow, thread: str, payload: Any, context: NodeContext
    ) -> TurnResult:
        config: dict[str, Any] = {
            "configurable": {"thread_id": thread},
            "recursion_limit": workflow.recursion_limit,
        }
        recorder = _Recorder(context.emit)
        context = replace(context, emit=recorder)
        latest: dict[str, Any] = {}
        # Every step writes whole channel values (no reducers), so the root graph's updates laid
        # over each other are the state the final checkpoint holds.
        merged: dict[str, Any] = {}
        interrupted: dict[str, Any] | None = None
        failure: tuple[TurnStatus, str] | None = None
        try:
            async with asyncio.timeout(workflow.spec.limits.timeout_seconds):
                async for mode, chunk in workflow.graph.astream(
                    payload,
                    config,
                    context=context,
                    # with a checkpointer the final state is read from it below
                    stream_mode=["updates"]
                    if workflow.graph.checkpointer
                    else ["values", "updates"],
                    durability=self.durability,
                ):
                    if mode == "values" and isinstance(chunk, dict):
                        latest = chunk
                    elif mode == "updates" and isinstance(chunk, dict) and "__interrupt__" in chunk:
                        interrupts = chunk["__interrupt__"]
                        interrupted = dict(interrupts[0].value) if interrupts else {}
                    elif mode == "updates" and isinstance(chunk, dict):
                        for update in chunk.values():
                            if isinstance(update, dict):
                                merged.update(update)
        except TimeoutError:
            failure = (
                "stopped",
                f"timeout: the turn took more than {workflow.spec.limits.timeout_seconds}s",
            )
        except GraphRecursionError:
            failure = ("stopped", f"max_steps: more than {workflow.spec.limits.max_steps} steps")
        except Exception as exc:
            log.exception("workflow %s failed", workflow.spec.name)
            failure = ("failed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        if workflow.graph.checkpointer is not None:
            if failure is None and interrupted is None and "run" in merged:
                latest = merged  # a clean end: no need to read the checkpoint back
            else:
                snapshot = await workflow.graph.aget_state(config)
                latest = dict(snapshot.values) or latest
        result = _result(latest, interrupted, failure, thread, recorder)
        await context.publish(
            WorkflowEvent("run.finished", workflow.spec.name, None, result.to_dict())
        )
        return result


class TurnStream(AsyncIterator[WorkflowEvent]):
    """The events of one turn as it runs in a task of its own; the last is ``run.finished``.

    :meth:`cancel` stops the turn from any task (the consumer then sees ``CancelledError``);
    closing the iterator early cancels it too. Events pass one bounded queue: a consumer that
    falls behind slows the run instead of piling events up in memory.
    """

    def __init__(
        self,
        context: NodeContext,
        start: Callable[[NodeContext], Awaitable[TurnResult]],
        queue_size: int,
    ) -> None:
        self._context = context
        self._start = start
        self._queue_size = queue_size
        self._task: asyncio.Future[TurnResult] | None = None
        self._cancelled = False
        self._end_marker: asyncio.Future[None] | None = None
        self._events = self._run()

    def __aiter__(self) -> TurnStream:
        return self

    async def __anext__(self) -> WorkflowEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    def cancel(self) -> None:
        """Stop the turn (before it starts, or wherever it is)."""
        self._cancelled = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> AsyncGenerator[WorkflowEvent, None]:
        queue: asyncio.Queue[WorkflowEvent | None] = asyncio.Queue(self._queue_size)
        forwarding = self._context if self._context.emit is not None else None

        async def sink(event: WorkflowEvent) -> None:
            await queue.put(event)
            if forwarding is not None:
                await forwarding.publish(event)

        def finished(_task: object) -> None:
            # the end marker goes after every event the run queued (a full queue: once there
            # is room)
            try:
                queue.put_nowait(None)
            except asyncio.QueueFull:
                self._end_marker = asyncio.ensure_future(queue.put(None))

        task = asyncio.ensure_future(self._start(replace(self._context, emit=sink)))
        self._task = task
        if self._cancelled:
            task.cancel()
        task.add_done_callback(finished)
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task  # re-raises what the run raised (e.g. HandoffPending)
        finally:
            if not task.done():
                task.cancel()


class _Recorder:
    """Collects what this execution said, did and spent from its events, then forwards them.

    Events are the one record that is complete whatever the nesting of subworkflows and however a
    run was split by a handoff: replies, steps and usage are exactly those of this execution.
    """

    def __init__(self, forward: EmitFn | None) -> None:
        self.forward = forward
        self.replies: list[dict[str, Any]] = []
        self.path: list[str] = []
        self.usage = {"input_tokens": 0, "output_tokens": 0, "cost_micros": 0, "llm_calls": 0}

    async def __call__(self, event: WorkflowEvent) -> None:
        if event.type == "message":
            self.replies.append(dict(event.data))
        elif event.type == "node.started":
            self.path.append(f"{event.workflow}/{event.node}")
        elif event.type == "node.completed":
            for key in self.usage:
                self.usage[key] += int(event.data.get(key, 0) or 0)
        if self.forward is not None:
            result = self.forward(event)
            if inspect.isawaitable(result):
                await result


def _interrupt_of(snapshot: Any) -> dict[str, Any] | None:
    for item in getattr(snapshot, "interrupts", ()) or ():
        if isinstance(item.value, dict) and item.value.get("type") == "handoff":
            return dict(item.value)
    for task in getattr(snapshot, "tasks", ()) or ():
        found = (
            _interrupt_of(task.state)
            if task.state is not None and not isinstance(task.state, dict)
            else None
        )
        if found:
            return found
    return None


def _result(
    state: dict[str, Any],
    interrupted: dict[str, Any] | None,
    failure: tuple[TurnStatus, str] | None,
    thread: str,
    recorder: _Recorder,
) -> TurnResult:
    run = dict(state.get("run") or {})
    status: TurnStatus
    reason = run.get("stop_reason")
    if failure is not None:
        status, reason = failure
    elif interrupted is not None:
        status, reason = "waiting_for_agent", None
    elif run.get("status") == STOPPED:
        status = "stopped"
    elif run.get("status") == FAILED:
        status = "failed"
    else:
        status = "completed"
    return TurnResult(
        status=status,
        replies=recorder.replies,
        usage=TurnUsage(**recorder.usage),
        steps=len(recorder.path),
        path=recorder.path,
        state=dict(state.get("vars") or {}),
        stop_reason=reason,
        error=run.get("error") if status != "completed" else None,
        handoff=interrupted,
        thread_id=thread,
    )
