"""Orchestration overhead per turn: the shipped customer_support workflow end to end (classify,
route, the faq subworkflow: retrieve, branch, answer with streaming, reply) with a zero-latency
fake model and a zero-latency knowledge search, against making the same two model calls directly.

Modes:
  engine-memory  compiled graph + engine, in-memory checkpointer (the orchestration itself)
  engine-sqlite  the same with the SQLite checkpointer on a file (what embedded mode keeps)
  service        OrchestratorService.run_turn on the embedded platform: tenant workflow lookup,
                 tool runner, run + node-run rows, outbox events and the SQLite checkpointer

Every turn is a new conversation. Overhead = p50(turn) - p50(direct calls).

    python -m bench.orchestrator_overhead [--turns 300] [--modes engine-memory,engine-sqlite,service]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiaas.backends.llm import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    ResponseSchema,
    StreamDelta,
    Usage,
)
from aiaas.orchestrator.checkpoints import open_checkpointer
from aiaas.orchestrator.compiler import WorkflowCompiler
from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.engine import WorkflowEngine
from aiaas.orchestrator.library import shipped_workflows
from bench.harness import cpu_model, save

QUESTION = "What is your returns policy and how long do refunds take?"
PASSAGES = [
    {"id": "kb-returns", "title": "Returns policy", "score": 0.9, "text": (
        "What is your returns policy? You can return any item within 30 days of delivery; refunds "
        "take 5 business days and go to the original payment method.")},
    {"id": "kb-shipping", "title": "Shipping", "score": 0.5,
     "text": "Standard shipping takes 3 to 5 business days."},
]  # fmt: skip


class ZeroLatencyModel:
    """Answers at once: the label ``faq`` for classifications, a cited sentence otherwise."""

    name = "zero"

    def _result(self, request: ChatRequest) -> ChatResult:
        if request.response_schema is not None:
            parsed: dict[str, Any] = {"label": "faq"}
            if request.response_schema.name != "classification":
                props = request.response_schema.schema.get("properties", {})
                parsed = dict.fromkeys(props)
            return ChatResult(json.dumps(parsed), "zero", "bench", Usage(50, 5), 0, parsed=parsed)
        return ChatResult("Within 30 days of delivery [1].", "zero", "bench", Usage(200, 12), 0)

    async def complete(self, request: ChatRequest) -> ChatResult:
        return self._result(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        result = self._result(request)
        for word in result.content.split(" "):
            yield StreamDelta(text=word + " ")
        yield StreamDelta(result=result)


async def search(_query: str, k: int) -> list[dict[str, Any]]:
    return PASSAGES[:k]


async def direct(model: ZeroLatencyModel) -> None:
    """The model calls of one turn, made directly (classification, then the streamed answer)."""
    await model.complete(ChatRequest(
        messages=(ChatMessage("system", "classify"), ChatMessage("user", QUESTION)),
        response_schema=ResponseSchema("classification", {"type": "object",
                                                          "properties": {"label": {"type": "string"}}}),
    ))  # fmt: skip
    async for _ in model.stream(ChatRequest(messages=(ChatMessage("user", QUESTION),))):
        pass


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.5) * 1000, 3), "p99_ms": round(pick(0.99) * 1000, 3),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3)}  # fmt: skip


async def measure(turn: Callable[[int], Awaitable[Any]], turns: int) -> dict[str, Any]:
    for i in range(min(30, turns)):
        await turn(-1 - i)  # warm-up: compile, caches, connections
    samples, cpu = [], []
    started = time.perf_counter()
    for i in range(turns):
        t0, c0 = time.perf_counter(), time.process_time()
        await turn(i)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    figures = percentiles(samples)
    # CPU time of the process during the turn: on a shared machine wall time also counts the
    # time other programs held the cores, CPU time does not
    figures["cpu_p50_ms"] = percentiles(cpu)["p50_ms"]
    return {**figures, "runs_per_s": round(turns / (time.perf_counter() - started), 1)}


async def engine_mode(url: str, turns: int) -> dict[str, Any]:
    specs = shipped_workflows()
    model = ZeroLatencyModel()
    async with open_checkpointer(url) as saver:
        graph = WorkflowCompiler(checkpointer=saver).get(
            "bench", specs["customer_support"], workflows=specs
        )
        engine = WorkflowEngine()
        context = NodeContext(llm=model, search=search, tenant_id="bench")

        async def turn(i: int) -> None:
            result = await engine.run_turn(graph, conversation_id=f"c{i}-{time.time_ns()}",
                                           message=QUESTION, context=context)  # fmt: skip
            assert result.status == "completed" and result.usage.llm_calls == 2, result

        return await measure(turn, turns)


async def service_mode(turns: int) -> dict[str, Any]:
    from uuid import UUID

    from aiaas.config import Settings
    from aiaas.migrations import runner
    from aiaas.platform import build_platform
    from aiaas.tenancy.service import NewTenant

    folder = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    settings = Settings(_env_file=None, env="test", data_dir=folder,  # type: ignore[call-arg]
                        telemetry={"log_level": "WARNING"})  # fmt: skip
    await asyncio.to_thread(runner.upgrade, settings)
    platform = build_platform(settings)
    await platform.start(events=False)
    try:
        tenant = await platform.tenants.create(NewTenant(slug="bench", name="Bench",
            owner_email="o@bench.example", owner_password="bench-password-123", plan="pro"))  # fmt: skip
        service = platform.orchestrator
        service.llm = ZeroLatencyModel()

        async def tenant_search(_tenant: UUID, query: str, k: int) -> list[dict[str, Any]]:
            return await search(query, k)

        service.search = tenant_search

        async def turn(i: int) -> None:
            result = await service.run_turn(tenant.id, f"c{i}-{time.time_ns()}", QUESTION)
            assert result["status"] == "completed", result

        return await measure(turn, turns)
    finally:
        await platform.stop()


async def main(turns: int, modes: list[str]) -> dict[str, Any]:
    model = ZeroLatencyModel()
    baseline = await measure(lambda _i: direct(model), turns)
    report: dict[str, Any] = {"cpu": cpu_model(), "turns": turns, "direct": baseline, "modes": {}}
    folder = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
    for mode in modes:
        if mode == "engine-memory":
            figures = await engine_mode("memory://", turns)
        elif mode == "engine-sqlite":
            figures = await engine_mode(f"sqlite:///{folder / 'checkpoints.db'}", turns)
        elif mode == "service":
            figures = await service_mode(turns)
        else:
            raise SystemExit(f"unknown mode {mode}")
        figures["overhead_p50_ms"] = round(figures["p50_ms"] - baseline["p50_ms"], 3)
        figures["cpu_overhead_p50_ms"] = round(figures["cpu_p50_ms"] - baseline["cpu_p50_ms"], 3)
        report["modes"][mode] = figures
        print(f"{mode:14s} p50 {figures['p50_ms']:7.3f} ms  p99 {figures['p99_ms']:7.3f} ms  "
              f"{figures['runs_per_s']:7.1f} runs/s  overhead p50 {figures['overhead_p50_ms']:.3f} ms  "
              f"cpu p50 {figures['cpu_p50_ms']:.3f} ms")  # fmt: skip
    print(f"{'direct':14s} p50 {baseline['p50_ms']:7.3f} ms  p99 {baseline['p99_ms']:7.3f} ms  "
          f"cpu p50 {baseline['cpu_p50_ms']:.3f} ms")  # fmt: skip
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--modes", default="engine-memory,engine-sqlite,service")
    args = parser.parse_args()
    result = asyncio.run(main(args.turns, args.modes.split(",")))
    print("saved", save("orchestrator_overhead", result))
