"""The workflows the platform ships: each compiles and runs its happy and unhappy paths."""

from __future__ import annotations

import pytest

from aiaas.orchestrator.compiler import CompiledWorkflow, compile_workflow
from aiaas.orchestrator.library import (
    BUILTIN_TOOLS,
    DEFAULT_WORKFLOW,
    shipped_sources,
    shipped_workflows,
)
from tests.orchestrator.conftest import Harness

SPECS = shipped_workflows()


def test_every_shipped_workflow_compiles_and_references_exist() -> None:
    assert set(SPECS) == {"customer_support", "faq", "order_status", "lead_capture", "complaint"}
    assert set(shipped_sources()) == set(SPECS) and DEFAULT_WORKFLOW in SPECS
    for spec in SPECS.values():
        compiled = compile_workflow(spec, workflows=SPECS, tools=BUILTIN_TOOLS)
        assert compiled.graph is not None
    root = compile_workflow(SPECS["customer_support"], workflows=SPECS, tools=BUILTIN_TOOLS)
    assert set(root.subworkflows) == {"faq", "order_status", "lead_capture", "complaint"}


def support(harness: Harness, name: str = "customer_support") -> CompiledWorkflow:
    return harness.compile(SPECS[name], SPECS)


# ---- faq ----------------------------------------------------------------------------------------


async def test_faq_answers_with_citations_and_streams(harness: Harness) -> None:
    result = await harness.turn(
        support(harness, "faq"), "How many days do I have to return an item?"
    )
    assert result.status == "completed"
    [answer] = harness.texts(result)
    assert "within 30 days of delivery" in answer and "[1]" in answer and "Returns policy" in answer
    assert result.state["citations"][0]["title"] == "Returns policy"
    assert "token" in harness.types("answer") and result.usage.llm_calls == 1


async def test_faq_escalates_when_the_knowledge_base_does_not_cover_it(harness: Harness) -> None:
    faq = support(harness, "faq")
    result = await harness.turn(faq, "Can I pay with cryptocurrency?")
    assert result.status == "waiting_for_agent" and result.handoff is not None
    assert "help center" in harness.texts(result)[0] and result.handoff["node"] == "escalate"
    resumed = await harness.resume(faq, {"action": "answer", "message": "Yes, we accept Bitcoin."})
    assert resumed.status == "completed"
    assert resumed.replies == [{"role": "agent", "content": "Yes, we accept Bitcoin.", "node": "escalate",
                                "agent": None}]  # fmt: skip


async def test_faq_hand_back_returns_to_the_assistant(harness: Harness) -> None:
    faq = support(harness, "faq")
    await harness.turn(faq, "Can I pay with cryptocurrency?")
    resumed = await harness.resume(faq, {"action": "hand_back"})
    assert harness.texts(resumed) == [
        "I'm back with you. Is there anything else I can help you with?"
    ]


async def test_faq_search_failure_goes_to_a_human(harness: Harness) -> None:
    async def broken(_q: str, _k: int) -> list[object]:
        raise ConnectionError("index down")

    result = await harness.engine.run_turn(support(harness, "faq"), conversation_id="x", message="returns?",
                                           context=harness.context(search=broken))  # fmt: skip
    assert (
        result.status == "waiting_for_agent" and result.error and result.error["node"] == "search"
    )


# ---- order status -------------------------------------------------------------------------------


async def test_order_status_with_the_number_in_the_message(harness: Harness) -> None:
    result = await harness.turn(support(harness), "Where is my order A-12345?")
    assert harness.texts(result) == [
        "Your order A-12345 is shipped with UPS, expected on 2025-03-14."
    ]
    assert harness.tools.calls == [("lookup_order", {"order_id": "A-12345"})]
    assert result.state["awaiting"] == "" and "customer_support/classify" in result.path


async def test_order_status_asks_for_the_number_then_answers_next_turn(harness: Harness) -> None:
    wf = support(harness)
    first = await harness.turn(wf, "Where is my order? It has not come yet")
    assert "What is your order number?" in harness.texts(first)[0]
    assert first.state["awaiting"] == "order_status" and harness.tools.calls == []
    second = await harness.turn(wf, "sure, it's a-12345")
    assert harness.texts(second) == [
        "Your order A-12345 is shipped with UPS, expected on 2025-03-14."
    ]
    assert "customer_support/classify" not in second.path  # the waiting flow took the answer


async def test_order_status_unknown_order_and_giving_up(harness: Harness) -> None:
    wf = support(harness, "order_status")
    missing = await harness.turn(wf, "order B-99999 please")
    assert "couldn't find an order with the number B-99999" in harness.texts(missing)[0]
    await harness.turn(wf, "no idea")
    gave_up = await harness.turn(wf, "still no idea")
    assert (
        gave_up.status == "waiting_for_agent"
        and "connect you with our team" in harness.texts(gave_up)[0]
    )


async def test_order_status_lookup_failure_is_retried_then_handed_off(harness: Harness) -> None:
    harness.tools.failures["lookup_order"] = 5
    result = await harness.turn(support(harness, "order_status"), "status of order A-12345")
    assert harness.tools.count("lookup_order") == 3  # the node's retry policy
    assert (
        result.status == "waiting_for_agent"
        and "trouble reaching our order system" in harness.texts(result)[0]
    )
    harness.tools.failures.clear()
    resumed = await harness.resume(support(harness, "order_status"), {"action": "hand_back"})
    assert resumed.status == "completed" and resumed.state["order_id"] == ""


async def test_order_lookup_recovers_within_its_retries(harness: Harness) -> None:
    harness.tools.failures["lookup_order"] = 2
    result = await harness.turn(support(harness, "order_status"), "status of order A-12345")
    assert result.status == "completed" and "shipped" in harness.texts(result)[0]


# ---- lead capture -------------------------------------------------------------------------------


async def test_lead_capture_over_turns(harness: Harness) -> None:
    wf = support(harness)
    first = await harness.turn(
        wf, "We are interested in buying 200 tents in bulk, can I get a quote?"
    )
    assert "your name and email address" in harness.texts(first)[0]
    second = await harness.turn(wf, "My name is Jane Doe")
    assert (
        "your email address" in harness.texts(second)[0] and second.state["lead_name"] == "Jane Doe"
    )
    third = await harness.turn(wf, "jane.doe@acme.example")
    assert harness.texts(third) == [
        "Thank you, Jane Doe! Our team will contact you at jane.doe@acme.example within one business day."
    ]
    [(name, args)] = harness.tools.calls
    assert (
        name == "create_lead"
        and args["email"] == "jane.doe@acme.example"
        and args["source"] == "chat"
    )
    assert third.state["awaiting"] == "" and third.state["lead_name"] == ""


async def test_lead_capture_rejects_an_invalid_email(harness: Harness) -> None:
    wf = support(harness, "lead_capture")
    result = await harness.turn(wf, "I'm Bob Stone, email is bob@localhost")
    assert harness.tools.calls == []
    assert result.state["lead_name"] == "Bob Stone" and result.state["awaiting"] == "lead_capture"
    fixed = await harness.turn(wf, "bob@stone.example")
    assert "Thank you, Bob Stone!" in harness.texts(fixed)[0]


async def test_lead_capture_tool_failure_hands_off(harness: Harness) -> None:
    harness.tools.failures["create_lead"] = 10
    result = await harness.turn(support(harness, "lead_capture"), "I'm Ann Lee, ann@lee.example")
    assert (
        result.status == "waiting_for_agent"
        and result.handoff
        and result.handoff["priority"] == "high"
    )


# ---- complaint ----------------------------------------------------------------------------------


async def test_complaint_opens_a_ticket(harness: Harness) -> None:
    result = await harness.turn(
        support(harness), "My tent arrived damaged, this is unacceptable. Order A-12345"
    )
    texts = harness.texts(result)
    assert "sorry" in texts[0] and texts[1].startswith("Your ticket number is T-")
    [(name, args)] = harness.tools.calls
    assert (
        name == "create_ticket" and args["priority"] == "normal" and args["order_id"] == "A-12345"
    )


async def test_severe_complaint_is_handed_to_a_human_urgently(harness: Harness) -> None:
    wf = support(harness)
    result = await harness.turn(
        wf, "The stove caught fire and my son was injured. I'm calling a lawyer."
    )
    assert result.status == "waiting_for_agent" and result.handoff
    assert result.handoff["priority"] == "urgent" and result.handoff["workflow"] == "complaint"
    assert harness.tools.calls[0][1]["priority"] == "urgent"
    assert await harness.engine.pending_handoff(wf, conversation_id="c1", tenant_id=harness.tenant)
    done = await harness.resume(
        wf, {"action": "answer", "message": "I'm Sam, I'll call you now.", "agent": "sam"}
    )
    assert done.status == "completed" and done.replies[0]["agent"] == "sam"


async def test_complaint_ticket_failure_hands_off(harness: Harness) -> None:
    harness.tools.failures["create_ticket"] = 10
    result = await harness.turn(
        support(harness, "complaint"), "The zipper is broken, terrible quality"
    )
    assert (
        result.status == "waiting_for_agent"
        and result.handoff
        and result.handoff["node"] == "ticket_failed"
    )


# ---- the root workflow --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "flow"),
    [
        ("How long does express shipping take?", "faq"),
        ("Where is my package? Order A-12345", "order_status"),
        ("Can we get a quote for a team plan?", "lead_capture"),
        ("Terrible service, my jacket is defective", "complaint"),
    ],
)
async def test_customer_support_routes_by_intent(harness: Harness, message: str, flow: str) -> None:
    result = await harness.turn(support(harness), message)
    assert result.state["intent"] == flow and f"customer_support/{flow}" in result.path
    assert any(step.startswith(f"{flow}/") for step in result.path)


async def test_customer_support_hands_over_to_a_human_on_request(harness: Harness) -> None:
    wf = support(harness)
    result = await harness.turn(wf, "I want to speak to a real person")
    assert (
        result.status == "waiting_for_agent"
        and result.handoff
        and result.handoff["node"] == "human"
    )
    back = await harness.resume(wf, {"action": "hand_back"})
    assert harness.texts(back) == ["I'm back with you. Is there anything else I can help you with?"]
