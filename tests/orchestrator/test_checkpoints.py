"""Interrupt a handoff, "restart the process", resume from the checkpoint database (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiaas.backends.llm import LocalProvider
from aiaas.orchestrator.checkpoints import open_checkpointer
from aiaas.orchestrator.compiler import WorkflowCompiler
from aiaas.orchestrator.context import NodeContext
from aiaas.orchestrator.engine import WorkflowEngine
from aiaas.orchestrator.library import BUILTIN_TOOLS, shipped_workflows
from tests.orchestrator.conftest import Tools, search_knowledge
from tests.services import create_scratch_database, drop_scratch_database, need_services

SPECS = shipped_workflows()


@pytest.fixture(params=["sqlite", "postgres"])
async def checkpoint_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'checkpoints.db'}"
        return
    await need_services("postgresql")
    scratch = await create_scratch_database()
    try:
        yield scratch.owner_url
    finally:
        await drop_scratch_database(scratch)


def context(tools: Tools) -> NodeContext:
    return NodeContext(
        llm=LocalProvider(), search=search_knowledge, call_tool=tools, tenant_id="acme"
    )


async def test_handoff_survives_a_restart(checkpoint_url: str) -> None:
    tools = Tools()
    message = "The heater caught fire and burned my hand, I want a lawyer. Order A-12345"
    async with open_checkpointer(checkpoint_url) as saver:
        graph = WorkflowCompiler(checkpointer=saver).get("acme", SPECS["customer_support"], workflows=SPECS,
                                                          tools=BUILTIN_TOOLS)  # fmt: skip
        first = await WorkflowEngine().run_turn(graph, conversation_id="conv-1", message=message,
                                                context=context(tools))  # fmt: skip
        assert (
            first.status == "waiting_for_agent"
            and first.handoff
            and first.handoff["priority"] == "urgent"
        )
    # A new process: new saver, compiler, graph and engine over the same database.
    async with open_checkpointer(checkpoint_url) as saver:
        graph = WorkflowCompiler(checkpointer=saver).get("acme", SPECS["customer_support"], workflows=SPECS,
                                                          tools=BUILTIN_TOOLS)  # fmt: skip
        engine = WorkflowEngine()
        pending = await engine.pending_handoff(graph, conversation_id="conv-1", tenant_id="acme")
        assert pending and pending["workflow"] == "complaint" and pending["node"] == "escalate"
        assert (
            await engine.pending_handoff(graph, conversation_id="conv-1", tenant_id="other") is None
        )
        resumed = await engine.resume(graph, conversation_id="conv-1", context=context(tools),
                                      resolution={"action": "answer", "message": "I'm so sorry. Calling you now.",
                                                  "agent": "dana"})  # fmt: skip
        assert resumed.status == "completed"
        assert resumed.replies == [{"role": "agent", "content": "I'm so sorry. Calling you now.",
                                    "node": "escalate", "agent": "dana"}]  # fmt: skip
        assert tools.count("create_ticket") == 1  # nothing before the interrupt ran again
        assert (
            await engine.pending_handoff(graph, conversation_id="conv-1", tenant_id="acme") is None
        )
        follow_up = await engine.run_turn(graph, conversation_id="conv-1", message="Thanks! Where is order A-12345?",
                                          context=context(tools))  # fmt: skip
        assert follow_up.status == "completed" and "shipped" in follow_up.replies[0]["content"]


async def test_hand_back_after_restart_continues_the_workflow(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    async with open_checkpointer(url) as saver:
        graph = WorkflowCompiler(checkpointer=saver).get(
            "acme", SPECS["customer_support"], workflows=SPECS
        )
        await WorkflowEngine().run_turn(graph, conversation_id="c", message="Let me talk to a human please",
                                        context=context(Tools()))  # fmt: skip
    async with open_checkpointer(url) as saver:
        graph = WorkflowCompiler(checkpointer=saver).get(
            "acme", SPECS["customer_support"], workflows=SPECS
        )
        result = await WorkflowEngine().resume(graph, conversation_id="c", resolution={"action": "hand_back"},
                                               context=context(Tools()))  # fmt: skip
        assert [r["content"] for r in result.replies] == [
            "I'm back with you. Is there anything else I can help you with?"
        ]


async def test_memory_checkpointer_and_unknown_urls() -> None:
    async with open_checkpointer("memory://") as saver:
        assert saver is not None
    with pytest.raises(ValueError, match="no checkpointer"):
        async with open_checkpointer("mysql://host/db"):
            pass
