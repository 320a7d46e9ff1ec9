"""The orchestrator as the platform runs it: a tenant's turn through its workflow, persisted.

``stream_turn``, ``resume`` and ``pending_handoff`` are what chat calls. Each turn resolves the
tenant's workflow (shipped default or the tenant's active revision), gets its compiled graph from
the cache, records a run, runs the graph with the platform's LLM, the tenant's knowledge search and
a tool runner bound to the caller's tenant and the workflow's allow-list, and records the outcome,
the node runs and an event for every state change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any
from uuid import UUID

import httpx

from aiaas.backends.llm.types import LLMProvider
from aiaas.config import Settings
from aiaas.ingestion.service import search_knowledge
from aiaas.kit.db import Database
from aiaas.kit.errors import NotFound, RateLimited
from aiaas.kit.ids import new_id
from aiaas.kit.pagination import PageParams
from aiaas.orchestrator.checkpoints import open_checkpointer
from aiaas.orchestrator.compiler import CompiledWorkflow, WorkflowCompiler
from aiaas.orchestrator.context import NodeContext, WorkflowEvent
from aiaas.orchestrator.engine import (
    NoHandoffPending,
    TurnStream,
    WorkflowEngine,
    thread_id_for,
)
from aiaas.orchestrator.errors import WorkflowNotFound
from aiaas.orchestrator.library import DEFAULT_WORKFLOW
from aiaas.orchestrator.models import NodeRun, WorkflowRun
from aiaas.orchestrator.recording import NodeLog, RunFeed, finish_run, start_run
from aiaas.orchestrator.repository import NodeRunRepository, RunRepository
from aiaas.orchestrator.spec.models import WorkflowSpec
from aiaas.orchestrator.spec.nodes import SubworkflowNode, ToolNode
from aiaas.orchestrator.store import Resolved, TenantWorkflows, WorkflowStore
from aiaas.tools.config import DEMO_STORE_ORIGIN
from aiaas.tools.demo_store import DemoStore
from aiaas.tools.http import HttpToolAdapter
from aiaas.tools.service import ToolRunner

log = logging.getLogger(__name__)
TenantSearch = Callable[[UUID, str, int], Awaitable[Sequence[Any]]]
"""``search(tenant_id, query, k)``: the tenant's knowledge passages, best first."""


class RunNotFound(NotFound):
    code, title = "run_not_found", "Run not found"


def as_uuid(value: str | UUID) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise NotFound("no such tenant", code="tenant_not_found") from None


def workflow_tools(spec: WorkflowSpec, workflows: Mapping[str, WorkflowSpec]) -> frozenset[str]:
    """The allow-list of a run: every tool named by the workflow and the workflows it runs."""
    names: set[str] = set()
    seen: set[str] = set()
    pending = [spec]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for node in current.nodes:
            if isinstance(node, ToolNode):
                names.add(node.tool)
            elif isinstance(node, SubworkflowNode) and node.workflow in workflows:
                pending.append(workflows[node.workflow])
    return frozenset(names)


class OrchestratorService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        llm: LLMProvider,
        *,
        search: TenantSearch | None = None,
        demo_store: DemoStore | None = None,
        tool_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.config = settings.orchestrator
        self.llm = llm
        self.search = search
        self.store = WorkflowStore(db)
        self.engine = WorkflowEngine()
        self.compiler = WorkflowCompiler(max_entries=self.config.compiled_cache_size)
        self.demo_store = demo_store
        mounts = {DEMO_STORE_ORIGIN: httpx.ASGITransport(app=demo_store.app)} if demo_store else {}
        self.tools = HttpToolAdapter(
            self.config.tools,
            secrets={k: v.get_secret_value() for k, v in self.config.tools.secrets.items()},
            mounts=mounts,
            transport=tool_transport,
        )
        self._stack = AsyncExitStack()
        self._running: dict[UUID, int] = defaultdict(int)
        self._locks: dict[tuple[UUID, str], tuple[asyncio.Lock, list[int]]] = {}
        """Per conversation: its lock and how many turns hold or wait for it."""
        self._feeds: dict[UUID, RunFeed] = {}
        self.started = False

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the checkpointer (the app's database unless configured otherwise)."""
        if self.started:
            return
        url = self.config.checkpoint_url or self.settings.app_database_url
        # On PostgreSQL the app role cannot create tables: the migrations made them.
        setup = not (url.startswith("postgresql") and self.config.checkpoint_url is None)
        saver = await self._stack.enter_async_context(open_checkpointer(url, setup=setup))
        self.compiler = WorkflowCompiler(
            checkpointer=saver, max_entries=self.config.compiled_cache_size
        )
        self.started = True

    async def stop(self) -> None:
        for feed in list(self._feeds.values()):
            feed.cancel()
        await self._stack.aclose()
        await self.tools.close()
        close = getattr(self.llm, "close", None)
        if close is not None:  # the OpenAI-compatible provider holds an HTTP client
            await close()
        self.started = False

    # ---- turns ----------------------------------------------------------------------------
    async def stream_turn(
        self,
        tenant_id: str | UUID,
        conversation_id: str,
        message: str,
        *,
        workflow: str | None = None,
        model_tier: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[WorkflowEvent]:
        """Run one customer turn; events as they happen, the last one ``run.finished`` (its data
        is the turn result plus ``run_id``). Raises :class:`HandoffPending` while an agent has the
        conversation."""
        tid = as_uuid(tenant_id)
        workflows = await self.store.for_tenant(tid)
        resolved = workflows.specs.get(workflow or DEFAULT_WORKFLOW)
        if resolved is None:
            raise WorkflowNotFound(f"no workflow {workflow!r}")
        compiled = self._compiled(tid, resolved, workflows)
        inputs = {k: v for k, v in (context or {}).items() if k in resolved.spec.inputs}

        def start(ctx: NodeContext) -> TurnStream:
            # start_run has checked the runs table for a waiting handoff
            return self.engine.stream_turn(
                compiled, conversation_id=conversation_id, message=message, context=ctx,
                inputs=inputs, check_handoff=False,
            )  # fmt: skip

        async for event in self._run(
            tid, conversation_id, compiled, resolved, workflows, start,
            kind="turn", message=message, model_tier=model_tier,
        ):  # fmt: skip
            yield event

    async def resume(
        self, tenant_id: str | UUID, conversation_id: str, resolution: Mapping[str, Any]
    ) -> AsyncIterator[WorkflowEvent]:
        """Continue a conversation waiting for an agent: ``{"action": "answer", "message": ...}``
        or ``{"action": "hand_back"}``. Raises :class:`NoHandoffPending` when none waits."""
        tid = as_uuid(tenant_id)
        waiting = await self._waiting_run(tid, conversation_id)
        if waiting is None:
            raise NoHandoffPending("this conversation is not waiting for an agent")
        workflows = await self.store.for_tenant(tid)
        resolved = await self.store.revision(
            tid, waiting.workflow, waiting.revision, waiting.source
        )
        compiled = self._compiled(tid, resolved, workflows)

        def start(ctx: NodeContext) -> TurnStream:
            return self.engine.stream_resume(
                compiled, conversation_id=conversation_id, resolution=resolution, context=ctx
            )

        async for event in self._run(
            tid, conversation_id, compiled, resolved, workflows, start,
            kind="resume", message=str(resolution.get("message") or ""), model_tier=None,
            resumes=waiting.id,
        ):  # fmt: skip
            yield event

    async def pending_handoff(
        self, tenant_id: str | UUID, conversation_id: str
    ) -> dict[str, Any] | None:
        """The handoff the conversation waits on (reason, priority, workflow, node, run_id)."""
        tid = as_uuid(tenant_id)
        waiting = await self._waiting_run(tid, conversation_id)
        if waiting is None:
            return None
        workflows = await self.store.for_tenant(tid)
        resolved = await self.store.revision(
            tid, waiting.workflow, waiting.revision, waiting.source
        )
        compiled = self._compiled(tid, resolved, workflows)
        found = await self.engine.pending_handoff(
            compiled, conversation_id=conversation_id, tenant_id=str(tid)
        )
        return {**found, "run_id": str(waiting.id)} if found else None

    async def run_turn(self, tenant_id: str | UUID, conversation_id: str, message: str,
                       **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        """:meth:`stream_turn` to its end; the ``run.finished`` data."""
        return await _last(self.stream_turn(tenant_id, conversation_id, message, **kwargs))

    async def resume_turn(
        self, tenant_id: str | UUID, conversation_id: str, resolution: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await _last(self.resume(tenant_id, conversation_id, resolution))

    # ---- runs -----------------------------------------------------------------------------
    async def get_run(self, tenant_id: UUID, run_id: UUID) -> tuple[WorkflowRun, list[NodeRun]]:
        async with self.db.transaction(tenant_id) as session:
            run = await RunRepository(session).get(run_id)
            if run is None:
                # a run of this process whose start is not written yet
                feed = self._feeds.get(run_id)
                if feed is not None and feed.started.row.tenant_id == tenant_id:
                    return feed.started.row, []
                raise RunNotFound(f"no run {run_id}")
            return run, list(await NodeRunRepository(session).of(run_id))

    async def list_runs(
        self,
        tenant_id: UUID,
        params: PageParams,
        *,
        conversation_id: str | None = None,
        status: str | None = None,
    ) -> tuple[list[WorkflowRun], str | None]:
        async with self.db.transaction(tenant_id) as session:
            repo = RunRepository(session)
            return await repo.page(
                repo.filtered(conversation_id=conversation_id, status=status), params
            )

    def feed(self, run_id: UUID) -> RunFeed | None:
        """The live events of a run running in this process."""
        return self._feeds.get(run_id)

    async def cancel(self, tenant_id: UUID, run_id: UUID) -> WorkflowRun:
        """Cancel a running run (in this process) or abandon one waiting for an agent."""
        run, _ = await self.get_run(tenant_id, run_id)
        feed = self._feeds.get(run_id)
        if run.status == "running" and feed is not None:
            feed.cancel()
            await feed.done.wait()
        elif run.status == "waiting_for_agent":
            saver = self.compiler.checkpointer
            if saver is not None:
                await saver.adelete_thread(thread_id_for(str(tenant_id), run.conversation_id,
                                                         run.workflow))  # fmt: skip
            await finish_run(self.db, tenant_id, run_id, cancelled_from=run.status)
        elif run.status == "running":
            await finish_run(self.db, tenant_id, run_id, cancelled_from=run.status)
        run, _ = await self.get_run(tenant_id, run_id)
        return run

    # ---- internals ------------------------------------------------------------------------
    def _compiled(
        self, tid: UUID, resolved: Resolved, workflows: TenantWorkflows
    ) -> CompiledWorkflow:
        specs = workflows.all_specs()
        specs[resolved.spec.name] = resolved.spec
        return self.compiler.get(str(tid), resolved.spec, workflows=specs)

    async def _waiting_run(self, tid: UUID, conversation_id: str) -> WorkflowRun | None:
        async with self.db.transaction(tid) as session:
            return await RunRepository(session).waiting(conversation_id)

    def _search_for(self, tid: UUID) -> Callable[[str, int], Awaitable[Sequence[Any]]]:
        limit = self.config.knowledge_k_max

        async def search(query: str, k: int) -> Sequence[Any]:
            if self.search is None:
                raise LookupError("knowledge search is not configured")
            return await self.search(tid, query, max(1, min(k, limit)))

        return search

    async def _run(
        self,
        tid: UUID,
        conversation_id: str,
        compiled: CompiledWorkflow,
        resolved: Resolved,
        workflows: TenantWorkflows,
        start: Callable[[NodeContext], TurnStream],
        *,
        kind: str,
        message: str,
        model_tier: str | None,
        resumes: UUID | None = None,
    ) -> AsyncIterator[WorkflowEvent]:
        if self._running[tid] >= self.config.max_concurrent_runs_per_tenant:
            raise RateLimited(
                "too many workflow runs at once for this tenant", code="too_many_runs",
                headers={"Retry-After": "1"},
            )  # fmt: skip
        key = (tid, conversation_id)
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        self._running[tid] += 1
        try:
            async with lock:
                async for event in self._locked_run(
                    tid, conversation_id, compiled, resolved, workflows, start,
                    kind=kind, message=message, model_tier=model_tier, resumes=resumes,
                ):  # fmt: skip
                    yield event
        finally:
            self._running[tid] -= 1
            if not self._running[tid]:
                self._running.pop(tid, None)
            users[0] -= 1
            if not users[0]:
                self._locks.pop(key, None)

    async def _locked_run(
        self,
        tid: UUID,
        conversation_id: str,
        compiled: CompiledWorkflow,
        resolved: Resolved,
        workflows: TenantWorkflows,
        start: Callable[[NodeContext], TurnStream],
        *,
        kind: str,
        message: str,
        model_tier: str | None,
        resumes: UUID | None,
    ) -> AsyncIterator[WorkflowEvent]:
        spec = resolved.spec
        run_id = new_id()
        started = await start_run(
            self.db, tid, run_id, conversation_id=conversation_id, workflow=spec.name,
            revision=resolved.revision, origin=resolved.origin, kind=kind, message=message,
            resumes=resumes, record_after=self.config.record_run_start_after_seconds,
        )  # fmt: skip
        runner = ToolRunner(
            self.db, self.tools, tid, workflow_tools(spec, workflows.all_specs()),
            search=self._search_for(tid), scope=str(run_id),
        )  # fmt: skip
        context = NodeContext(
            llm=self.llm, search=self._search_for(tid), call_tool=runner, tenant_id=str(tid),
            conversation_id=conversation_id, model_tier=model_tier,
        )  # fmt: skip
        nodes = NodeLog()
        feed = RunFeed(run_id, started, keep=self.config.run_events_kept)
        self._feeds[run_id] = feed
        began = time.perf_counter()
        first = WorkflowEvent("run.started", spec.name, None,
                              {"run_id": str(run_id), "kind": kind, "revision": resolved.revision})  # fmt: skip
        feed.publish(first)
        finished: dict[str, Any] | None = None
        try:
            yield first
            async for event in feed.drive(start(replace(context, emit=None))):
                nodes.see(event)
                if event.type == "run.finished":
                    finished = dict(event.data)
                    compensations = []
                    if finished.get("status") == "failed" and runner.saga:
                        compensations = await runner.compensate()
                    if runner.handoff and not finished.get("handoff"):
                        finished["handoff"] = runner.handoff
                    event = replace(event, data={**finished, "run_id": str(run_id),
                                                 "compensations": compensations})  # fmt: skip
                    await finish_run(
                        self.db, tid, run_id, result=finished, nodes=nodes, runner=runner,
                        duration_ms=int((time.perf_counter() - began) * 1000),
                        compensations=compensations, events=[*feed.history, event.to_dict()],
                        started=started,
                    )  # fmt: skip
                feed.publish(event)
                yield event
            if finished is None and feed.cancelled:
                last = WorkflowEvent("run.finished", spec.name, None,
                                     {"status": "cancelled", "run_id": str(run_id)})  # fmt: skip
                await finish_run(self.db, tid, run_id, cancelled_from="running", nodes=nodes,
                                 runner=runner, duration_ms=int((time.perf_counter() - began) * 1000),
                                 events=[*feed.history, last.to_dict()], started=started)  # fmt: skip
                feed.publish(last)
                yield last
        except BaseException as exc:
            if finished is None:
                await asyncio.shield(
                    finish_run(
                        self.db, tid, run_id, nodes=nodes, runner=runner,
                        duration_ms=int((time.perf_counter() - began) * 1000),
                        crashed=exc, events=feed.history, started=started,
                    )
                )  # fmt: skip
            raise
        finally:
            feed.close()
            self._feeds.pop(run_id, None)


async def _last(events: AsyncIterator[WorkflowEvent]) -> dict[str, Any]:
    last: dict[str, Any] = {}
    async for event in events:
        if event.type == "run.finished":
            last = dict(event.data)
    return last


def ingestion_search(platform: Any) -> TenantSearch:
    """The tenant knowledge search of the ingestion domain, bound to ``platform``."""

    async def search(tenant_id: UUID, query: str, k: int) -> Sequence[Any]:
        return await search_knowledge(platform, tenant_id, query, k=k)

    return search
