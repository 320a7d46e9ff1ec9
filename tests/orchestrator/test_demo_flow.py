"""The demo tenant end to end with no API key: the shipped customer_support workflow answers a
FAQ with citations from the ingested help centre, looks an order up through the HTTP tool (the
demo store), captures a lead over several turns and hands a severe complaint to a human."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiaas.ingestion.service import Upload, ingest_now
from aiaas.tools.service import install_standard_tools
from tests.conftest import Stack
from tests.factories import make_tenant

HELP = {
    "returns.md": "# Returns policy\n\nYou can return any item within 30 days of delivery. Items "
    "must be unused and in their original packaging. Refunds are issued to the original payment "
    "method within 5 business days.\n",
    "shipping.md": "# Shipping times\n\nStandard shipping takes 3 to 5 business days. Express "
    "shipping takes 1 to 2 business days and costs $15.\n",
}


async def test_demo_tenant_customer_support(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    await ingest_now(
        env.platform, tenant, [Upload(name, text.encode()) for name, text in HELP.items()]
    )
    await install_standard_tools(env.platform.db, tenant)
    service = env.platform.orchestrator
    store = service.demo_store
    assert store is not None

    async def say(conversation: str, text: str) -> dict[str, Any]:
        return await service.run_turn(tenant, conversation, text)

    faq = await say("faq", "What is your returns policy? How long do refunds take?")
    assert faq["status"] == "completed", faq
    answer = faq["replies"][0]["content"]
    assert "[1]" in answer and faq["state"]["citations"], answer

    order = await say("order", "Where is my order A-12345?")
    assert order["replies"][0]["content"].startswith("Your order A-12345 is shipped with UPS")

    first = await say("lead", "We'd like to buy in bulk for our team, can sales contact me?")
    assert "Could you share your name and email address?" in first["replies"][0]["content"]
    second = await say("lead", "I'm Jane Doe from Initech, jane.doe@initech.example")
    assert "Thank you, Jane Doe" in second["replies"][0]["content"], second
    assert [lead["email"] for lead in store.leads.values()] == ["jane.doe@initech.example"]

    complaint = await say(
        "complaint", "The stove caught fire and burned my hand, this is dangerous!"
    )
    assert (
        complaint["status"] == "waiting_for_agent" and complaint["handoff"]["priority"] == "urgent"
    )
    assert any(t["priority"] == "urgent" for t in store.tickets.values())
    run, nodes = await service.get_run(tenant, UUID(complaint["run_id"]))
    assert run.tool_calls == 1 and any(
        n.node == "ticket" and n.status == "completed" for n in nodes
    )
