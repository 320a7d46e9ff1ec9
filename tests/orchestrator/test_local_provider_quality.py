"""The embedded model on the demo tenant: realistic customer messages through the shipped
``customer_support`` workflow, over the demo help centre and the demo store, with no API key.

Each message must be routed to the right flow by the classify node, and a knowledge answer must
carry the relevant fact of the right article, cited as ``[n]`` and listed under "Sources".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiaas.ingestion.service import seed_demo_knowledge
from aiaas.tools.service import install_standard_tools
from tests.conftest import Stack
from tests.factories import make_tenant


@dataclass(frozen=True)
class Case:
    message: str
    label: str
    says: tuple[str, ...] = ()
    """Texts the reply must contain (case-insensitive)."""
    article: str | None = None
    """The title of the help article the answer must cite."""
    status: str = "completed"


CASES = [
    # complaints, also when they mention an order or say it without a strong word
    Case("I'm really unhappy, the jacket I received has a broken zipper and nobody answers my "
         "emails.", "complaint", ("opening a ticket", "ticket number")),
    Case("Your delivery driver left my package in the rain and everything is soaked. Not happy.",
         "complaint", ("ticket number",)),
    Case("This is the second time my order arrived late, I'm very disappointed with your service.",
         "complaint", ("ticket number",)),
    Case("The boots I ordered are the wrong size, you sent me the wrong item.", "complaint",
         ("ticket number",)),
    Case("The stove caught fire and burned my hand, this is dangerous!", "complaint",
         ("senior member of our team",), status="waiting_for_agent"),
    # refunds and returns
    Case("How long does a refund take to reach my credit card?", "faq", ("5-10 business days",),
         "When will I get my refund?"),
    # order status, with and without a number
    Case("Where is my order A-12345?", "order_status", ("A-12345 is shipped with UPS",)),
    Case("Where is my order?", "order_status", ("what is your order number",)),
    Case("Has my package shipped yet?", "order_status", ("what is your order number",)),
    Case("My order hasn't arrived yet", "order_status", ("what is your order number",)),
    Case("My order hasn't arrived yet and nobody replies, this is ridiculous", "complaint",
         ("ticket number",)),
    # shipping
    Case("How long does shipping take to Canada?", "faq", ("canada", "5-8 business days"),
         "International shipping"),
    # account and password
    Case("I forgot my password, how do I reset it?", "faq", ("forgot password", "reset link"),
         "Resetting your password and locked accounts"),
    Case("How can I change the email address on my account?", "faq",
         ("account > profile > email address",), "Changing the email address of your account"),
    # warranty
    Case("How long is the warranty on a tent?", "faq", ("tents, tent poles and shelters",
         "3 years"), "Warranty coverage"),
    Case("My tent pole snapped after two months, is that covered by warranty?", "faq",
         ("3-year warranty",), "Repairing a broken or bent tent pole"),
    Case("What does your warranty cover?", "faq", ("defects in materials and workmanship",),
         "Warranty coverage"),
    # other questions: one that mentions an order without asking where it is, an FAQ entry
    Case("Can I use two promo codes on one order?", "faq",
         ("only one promo code can be used per order",), "Promo codes and discounts"),
    Case("Do you sell electric bikes?", "faq", ("we do not sell bikes",),
         "Services and company FAQ"),
    # small talk
    Case("Hi there!", "smalltalk", ("how can i help",)),
    Case("Thanks, that's all.", "smalltalk", ("you're welcome",)),
    # out of scope: said plainly, and a human is brought in
    Case("What's the weather like in Paris tomorrow?", "faq",
         ("couldn't find a reliable answer", "member of our team"), status="waiting_for_agent"),
    # a human on request, and a sales lead
    Case("Can I speak to a real person please?", "human", ("connecting you",),
         status="waiting_for_agent"),
    Case("We'd like to buy 50 jackets for our company, can I get a quote?", "lead_capture",
         ("name and email",)),
]  # fmt: skip


def problems(case: Case, result: dict[str, Any]) -> list[str]:
    found = []
    if result["state"].get("intent") != case.label:
        found.append(f"label {result['state'].get('intent')!r}, wanted {case.label!r}")
    if result["status"] != case.status:
        found.append(f"status {result['status']!r}, wanted {case.status!r}")
    reply = "\n".join(r["content"] for r in result["replies"])
    for text in case.says:
        if text.lower() not in reply.lower():
            found.append(f"reply lacks {text!r}")
    if case.article is not None:
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.split("Sources:")[0])}
        sources = dict(re.findall(r"\[(\d+)\] ([^;\n]+)", reply.partition("Sources:")[2]))
        titles = {sources.get(str(n), "").strip() for n in cited}
        if case.article not in titles:
            found.append(f"no citation of {case.article!r} (cited {sorted(titles)})")
        if case.article not in {c.get("title") for c in result["state"].get("citations") or []}:
            found.append(f"{case.article!r} missing from the citations state field")
    return [f"{case.message!r}: {p}\n    reply: {reply!r}" for p in found]


async def test_demo_tenant_answers_realistic_messages(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    assert await seed_demo_knowledge(env.platform, tenant) > 30
    await install_standard_tools(env.platform.db, tenant)
    service = env.platform.orchestrator
    failures: list[str] = []
    for number, case in enumerate(CASES):
        result = await service.run_turn(tenant, f"quality-{number}", case.message)
        failures += problems(case, result)
    assert not failures, "\n".join(failures)


async def test_an_order_number_given_later_is_looked_up(env: Stack) -> None:
    tenant = UUID((await make_tenant(env)).id)
    await install_standard_tools(env.platform.db, tenant)
    service = env.platform.orchestrator
    first = await service.run_turn(tenant, "later", "Has my package shipped yet?")
    assert first["state"]["awaiting"] == "order_status", first
    second = await service.run_turn(tenant, "later", "It's A-12345")
    reply = second["replies"][0]["content"]
    assert reply.startswith("Your order A-12345 is shipped with UPS"), reply
