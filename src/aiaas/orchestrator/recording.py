"""Recording runs: the run row and its events at start and end, node runs from the event stream,
and a live feed of a running run's events for streaming subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from aiaas.events.outbox import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.db import Database
from aiaas.kit.errors import AppError
from aiaas.orchestrator import events as orchestrator_events
from aiaas.orchestrator.context import WorkflowEvent
from aiaas.orchestrator.engine import HandoffPending, TurnStream
from aiaas.orchestrator.models import NodeRun, WorkflowRun
from aiaas.orchestrator.repository import NodeRunRepository, RunRepository
from aiaas.tools.service import ToolRunner

ENDED_EVENTS = {
    "completed": ("orchestrator.run.completed", orchestrator_events.RunCompleted),
    "failed": ("orchestrator.run.failed", orchestrator_events.RunFailed),
    "stopped": ("orchestrator.run.stopped", orchestrator_events.RunStopped),
    "waiting_for_agent": ("orchestrator.run.interrupted", orchestrator_events.RunInterrupted),
}
log = logging.getLogger(__name__)


class NodeLog:
    """Node runs, in order, assembled from ``node.*`` events."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._open: dict[tuple[str, str | None], dict[str, Any]] = {}

    def see(self, event: WorkflowEvent) -> None:
        key = (event.workflow, event.node)
        if event.type == "node.started":
            row: dict[str, Any] = {"workflow": event.workflow, "node": event.node or "",
                   "type": str(event.data.get("type", "")), "status": "running",
                   "started_at": utcnow(), "duration_ms": None, "error": None,
                   "llm_calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_micros": 0}  # fmt: skip
            self.rows.append(row)
            self._open[key] = row
        elif event.type in ("node.completed", "node.failed"):
            found = self._open.get(key)
            if found is not None:
                row = found
            else:  # the continuation of a node started in an earlier run (handoff)
                row = {"workflow": event.workflow, "node": event.node or "", "type": "handoff",
                       "status": "running", "started_at": utcnow(), "duration_ms": None,
                       "error": None, "llm_calls": 0, "input_tokens": 0, "output_tokens": 0,
                       "cost_micros": 0}  # fmt: skip
                self.rows.append(row)
                self._open[key] = row
            if event.type == "node.failed":
                row["status"] = "failed"
                row["error"] = {
                    "code": event.data.get("code"),
                    "message": event.data.get("message"),
                }
                return
            if row["status"] == "running":
                row["status"] = "completed"
            row["duration_ms"] = event.data.get("ms")
            for name in ("llm_calls", "input_tokens", "output_tokens", "cost_micros"):
                row[name] += int(event.data.get(name, 0) or 0)


class RunFeed:
    """Reads a run's event stream (which another task may cancel through it) and fans its events
    out to subscribers (who first get what already happened); holds the run's start meanwhile."""

    def __init__(self, run_id: UUID, started: StartedRun, *, keep: int) -> None:
        self.run_id = run_id
        self.started = started
        self.keep = keep
        self.history: list[dict[str, Any]] = []
        self.cancelled = False
        self.done = asyncio.Event()
        self._subscribers: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._source: TurnStream | None = None

    def publish(self, event: WorkflowEvent) -> None:
        data = event.to_dict()
        if event.type != "token" and len(self.history) < self.keep:
            self.history.append(data)
        for queue in self._subscribers:
            if not queue.full():
                queue.put_nowait(data)

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(10_000)
        for item in self.history:
            queue.put_nowait(item)
        self._subscribers.append(queue)
        try:
            while True:
                if self.done.is_set() and queue.empty():
                    return
                got = await queue.get()
                if got is None:
                    return
                yield got
        finally:
            self._subscribers.remove(queue)

    def cancel(self) -> None:
        self.cancelled = True
        if self._source is not None:
            self._source.cancel()

    def close(self) -> None:
        self.done.set()
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def drive(self, source: TurnStream) -> AsyncIterator[WorkflowEvent]:
        """The run's events from ``source``; a :meth:`cancel` meanwhile ends them quietly."""
        self._source = source
        if self.cancelled:
            source.cancel()
        try:
            async for event in source:
                yield event
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.cancelled or (current is not None and current.cancelling()):
                raise
            # the run was cancelled through this feed: its events end here
        finally:
            await source.aclose()


class StartedRun:
    """A run's row from its start until its end is recorded.

    Most turns end within milliseconds, and on SQLite a transaction of its own for the start costs
    about as much as the rest of the turn. So a turn's row and its ``orchestrator.run.started``
    event are written ``record_after`` seconds into the run, or, for the common short turn, in
    the transaction that records its end. Until then the row lives here: the service answers
    ``GET /runs/{id}`` and cancellation from it, and the started event keeps its true time.
    """

    def __init__(self, row: WorkflowRun) -> None:
        self.row = row
        self.written = False
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    def write_after(self, db: Database, seconds: float) -> None:
        """Write the start once the run has lasted ``seconds`` (unless its end came first)."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._write_now, db)

    def _write_now(self, db: Database) -> None:
        self._timer = None
        self._writing = asyncio.get_running_loop().create_task(
            self._write(db), name=f"run-start-{self.row.id}"
        )

    async def _write(self, db: Database) -> None:
        try:
            async with db.transaction(self.row.tenant_id) as session:
                session.add(self.row)
                await self.record_started(session)
        except Exception:
            # the end's transaction writes the row instead
            log.warning("could not record the start of run %s", self.row.id, exc_info=True)
            return
        self.written = True

    async def record_started(self, session: AsyncSession) -> None:
        row = self.row
        await record_event(
            session,
            "orchestrator.run.started",
            orchestrator_events.RunStarted(
                run_id=str(row.id),
                conversation_id=row.conversation_id,
                workflow=row.workflow,
                revision=row.revision,
                kind=row.kind,
            ),
            subject_type="workflow_run",
            subject_id=row.id,
            occurred_at=row.started_at,
        )

    async def settle(self) -> None:
        """Drop a start not yet written (the end writes it) or wait for one being written."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            await asyncio.shield(self._writing)


async def start_run(
    db: Database,
    tenant_id: UUID,
    run_id: UUID,
    *,
    conversation_id: str,
    workflow: str,
    revision: int,
    origin: str,
    kind: str,
    message: str,
    resumes: UUID | None,
    record_after: float = 0.0,
) -> StartedRun:
    """Start a run: refuse a turn while the conversation waits for an agent, then record the run
    as running with its start event, at once or (a turn, ``record_after`` > 0) later.

    Returns the :class:`StartedRun` that :func:`finish_run` completes.
    """
    run = WorkflowRun(
        id=run_id, tenant_id=tenant_id, conversation_id=conversation_id, workflow=workflow,
        revision=revision, source=origin, kind=kind, status="running", message=message[:20_000],
        started_at=utcnow(), finished_at=None, duration_ms=None, steps=0, llm_calls=0,
        tool_calls=0, input_tokens=0, output_tokens=0, cost_micros=0, stop_reason=None,
        error=None, handoff=None, replies=[], events=[],
    )  # fmt: skip
    started = StartedRun(run)
    deferred = kind == "turn" and resumes is None and record_after > 0
    async with db.transaction(tenant_id) as session:
        runs = RunRepository(session)
        if kind == "turn" and await runs.waiting(conversation_id) is not None:
            raise HandoffPending("the conversation is waiting for a human agent")
        if deferred:
            started.write_after(db, record_after)
            return started
        if resumes is not None:
            previous = await runs.get(resumes)
            if previous is not None and previous.status == "waiting_for_agent":
                previous.status = "resolved"
        session.add(run)  # flushed with the event at commit
        await started.record_started(session)
    started.written = True
    return started


async def finish_run(
    db: Database,
    tenant_id: UUID,
    run_id: UUID,
    *,
    result: dict[str, Any] | None = None,
    nodes: NodeLog | None = None,
    runner: ToolRunner | None = None,
    duration_ms: int | None = None,
    compensations: list[dict[str, Any]] | None = None,
    cancelled_from: str | None = None,
    crashed: BaseException | None = None,
    events: list[dict[str, Any]] | None = None,
    started: StartedRun | None = None,
) -> None:
    """Store a run's outcome, its node runs and the event of its end (one transaction).

    ``started`` is what :func:`start_run` returned: its row is updated as it is, without reading
    it back, or inserted with its start event when the start was not written yet. Every change is
    made before the one flush at the end, so the run row takes a single UPDATE (or INSERT) and the
    node runs one batched INSERT. A run whose row is gone is left alone.
    """
    if started is not None:
        await started.settle()
    try:
        await _finish(db, tenant_id, run_id, result, nodes, runner, duration_ms, compensations,
                      cancelled_from, crashed, events, started)  # fmt: skip
    except StaleDataError:  # the started row was deleted meanwhile (with its tenant)
        return


async def _finish(
    db: Database,
    tenant_id: UUID,
    run_id: UUID,
    result: dict[str, Any] | None,
    nodes: NodeLog | None,
    runner: ToolRunner | None,
    duration_ms: int | None,
    compensations: list[dict[str, Any]] | None,
    cancelled_from: str | None,
    crashed: BaseException | None,
    events: list[dict[str, Any]] | None,
    started: StartedRun | None,
) -> None:
    async with db.transaction(tenant_id) as session:
        if started is not None and started.row.id == run_id:
            run: WorkflowRun | None = started.row
            # a detached row is re-attached without a SELECT; a start not yet written is
            # inserted here, its event before the end's
            session.add(started.row)
            if not started.written:
                await started.record_started(session)
        else:
            run = await RunRepository(session).get(run_id)
        if run is None:
            return
        run.finished_at = utcnow()
        if duration_ms is not None:
            run.duration_ms = duration_ms
        if events is not None:
            run.events = list(events)
        if runner is not None:
            run.tool_calls = sum(1 for c in runner.calls if c.get("status") != "refused")
        base = {"run_id": str(run_id), "conversation_id": run.conversation_id,
                "workflow": run.workflow, "revision": run.revision, "kind": run.kind}  # fmt: skip
        if cancelled_from is not None:
            run.status = "cancelled"
            run.stop_reason = "cancelled"
            await record_event(
                session, "orchestrator.run.cancelled",
                orchestrator_events.RunCancelled(**base, previous_status=cancelled_from),
                subject_type="workflow_run", subject_id=run_id,
            )  # fmt: skip
        else:
            _record_outcome(run, base, result, crashed, compensations)
            event_type, payload = _ended_event(run, base, compensations)
            await record_event(
                session, event_type, payload, subject_type="workflow_run", subject_id=run_id
            )
        if nodes is not None and nodes.rows:
            if started is not None and not started.written:
                # the unit of work does not order rows by foreign key: the run goes first
                await session.flush()
            await NodeRunRepository(session).add_many(
                [NodeRun(run_id=run_id, seq=seq, **row) for seq, row in enumerate(nodes.rows)]
            )


def _record_outcome(
    run: WorkflowRun,
    base: dict[str, Any],
    result: dict[str, Any] | None,
    crashed: BaseException | None,
    compensations: list[dict[str, Any]] | None,
) -> None:
    if result is None:
        code = crashed.code if isinstance(crashed, AppError) else type(crashed).__name__
        result = {"status": "failed", "usage": {}, "steps": 0,
                  "stop_reason": f"the run ended early: {code}",
                  "error": {"code": code, "message": str(crashed)[:500]}}  # fmt: skip
    usage = result.get("usage") or {}
    run.status = str(result.get("status") or "failed")
    run.steps = int(result.get("steps") or 0)
    run.llm_calls = int(usage.get("llm_calls", 0))
    run.input_tokens = int(usage.get("input_tokens", 0))
    run.output_tokens = int(usage.get("output_tokens", 0))
    run.cost_micros = int(usage.get("cost_micros", 0))
    run.stop_reason = result.get("stop_reason")
    run.error = result.get("error")
    run.handoff = result.get("handoff")
    run.replies = list(result.get("replies") or [])


def _ended_event(
    run: WorkflowRun, base: dict[str, Any], compensations: list[dict[str, Any]] | None
) -> tuple[str, Any]:
    event_type, model = ENDED_EVENTS.get(run.status, ENDED_EVENTS["failed"])
    payload: dict[str, Any] = {
        **base, "status": run.status, "duration_ms": run.duration_ms or 0,
        "steps": run.steps, "llm_calls": run.llm_calls, "tool_calls": run.tool_calls,
        "input_tokens": run.input_tokens, "output_tokens": run.output_tokens,
        "cost_micros": run.cost_micros, "stop_reason": run.stop_reason, "error": run.error,
    }  # fmt: skip
    if run.status == "failed":
        payload["compensations"] = list(compensations or [])
    if run.status == "waiting_for_agent":
        payload["handoff"] = dict(run.handoff or {})
    return event_type, model(**payload)
