"""The embedded local provider: grounded answers with citations, extraction, classification, tools."""

from __future__ import annotations

import json

import pytest

from aiaas.backends.llm import (
    ChatMessage,
    ChatRequest,
    Document,
    LLMSettings,
    LocalProvider,
    ResponseSchema,
    ToolSpec,
    build_llm_provider,
)
from aiaas.backends.llm.documents import (
    citations_for,
    documents_in,
    parse_documents,
    render_documents,
)
from aiaas.backends.llm.local.provider import NO_ANSWER
from aiaas.backends.llm.openai_provider import OpenAICompatibleProvider

DOCS = (
    Document(title="Returns policy", id="kb-1", text=(
        "You can return any item within 30 days of delivery. Items must be unused and in the original "
        "packaging. Refunds are issued to the original payment method within 5 business days.")),
    Document(title="Shipping", id="kb-2", text=(
        "Standard shipping takes 3 to 5 business days. Express shipping takes 1 to 2 days and costs $15. "
        "We ship to the United States and Canada.")),
)  # fmt: skip


def user(*texts: str, **kwargs: object) -> ChatRequest:
    return ChatRequest(messages=tuple(ChatMessage(role="user", content=t) for t in texts), **kwargs)  # type: ignore[arg-type]


async def test_answers_from_passages_with_citations() -> None:
    result = await LocalProvider().complete(
        user("How many days do I have to return an item?", documents=DOCS)
    )
    assert "within 30 days of delivery" in result.content
    assert "[1]" in result.content and "Sources: [1] Returns policy" in result.content
    assert [c.title for c in result.citations] == ["Returns policy"] and result.citations[
        0
    ].id == "kb-1"
    assert (
        result.cost_micros == 0 and result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    )


async def test_picks_the_relevant_document() -> None:
    result = await LocalProvider().complete(
        user("How long does express shipping take?", documents=DOCS)
    )
    assert "Express shipping takes 1 to 2 days" in result.content and "[2]" in result.content
    assert "30 days" not in result.content


async def test_says_plainly_when_it_does_not_know_and_offers_a_human() -> None:
    result = await LocalProvider().complete(user("Do you sell drones?", documents=DOCS))
    assert result.content == NO_ANSWER and "human" in result.content and result.citations == ()
    empty = await LocalProvider().complete(user("What is the warranty?"))
    assert empty.content == NO_ANSWER


async def test_reads_passages_rendered_into_a_system_message() -> None:
    system = ChatMessage(role="system", content=render_documents(DOCS))
    request = ChatRequest(
        messages=(system, ChatMessage(role="user", content="Do you ship to Canada?"))
    )
    result = await LocalProvider().complete(request)
    assert "Canada" in result.content and result.citations[0].title == "Shipping"


def test_document_rendering_round_trips() -> None:
    parsed = parse_documents(render_documents(DOCS))
    assert [(d.title, d.id, d.text) for d in parsed] == [(d.title, d.id, d.text) for d in DOCS]
    assert documents_in([ChatMessage(role="system", content="plain instructions")]) == []
    assert [c.index for c in citations_for("a [2] b [1] c [2] d [9]", DOCS)] == [2, 1]


async def test_greetings_and_thanks() -> None:
    assert "How can I help" in (await LocalProvider().complete(user("Hello there!"))).content
    assert "welcome" in (await LocalProvider().complete(user("thanks!"))).content


async def test_structured_output_extracts_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "order_id": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"], "format": "email"},
            "name": {"type": ["string", "null"]},
            "company": {"type": ["string", "null"]},
            "phone": {"type": ["string", "null"]},
            "quantity": {"type": "integer"},
        },
    }
    text = "Hi, my name is jane doe from Acme Outdoor, order #A-12345, 3 tents, jane@acme.io, +1 555 010 2000"
    result = await LocalProvider().complete(user(text, response_schema=ResponseSchema("x", schema)))
    assert result.parsed == {
        "order_id": "A-12345", "email": "jane@acme.io", "name": "Jane Doe", "company": "Acme Outdoor",
        "phone": "+1 555 010 2000", "quantity": 3,
    }  # fmt: skip
    assert json.loads(result.content) == result.parsed
    missing = await LocalProvider().complete(
        user("hello", response_schema=ResponseSchema("x", schema))
    )
    assert (
        missing.parsed is not None
        and missing.parsed["order_id"] is None
        and missing.parsed["email"] is None
    )


async def test_schema_pattern_and_later_messages_win() -> None:
    schema = {
        "type": "object",
        "properties": {"ticket": {"type": ["string", "null"], "pattern": "^TK[0-9]{3}$"}},
    }
    request = user(
        "my ticket was TK100", "sorry, it is TK200", response_schema=ResponseSchema("t", schema)
    )
    assert (await LocalProvider().complete(request)).parsed == {"ticket": "TK200"}


@pytest.mark.parametrize(
    ("message", "label"),
    [
        ("Where is my order? I want to track the package", "order_status"),
        ("The jacket arrived damaged and I am very unhappy", "complaint"),
        ("What is your returns policy?", "faq"),
        ("qwerty", "other"),
    ],
)
async def test_classification_by_description_overlap(message: str, label: str) -> None:
    description = (
        "- order_status: order status, tracking, package, delivery\n"
        "- complaint: unhappy, broken, damaged, terrible service\n"
        "- faq: questions about policies, returns, shipping, products\n- other: anything else"
    )
    schema = {"type": "object", "properties": {"label": {
        "type": "string", "enum": ["order_status", "complaint", "faq", "other"], "description": description}}}  # fmt: skip
    result = await LocalProvider().complete(
        user(message, response_schema=ResponseSchema("c", schema))
    )
    assert result.parsed == {"label": label}


async def test_booleans_from_description_keywords() -> None:
    schema = {"type": "object", "properties": {"severe": {
        "type": "boolean", "description": "true when it involves injury, fire, a lawyer or fraud"}}}  # fmt: skip
    severe = await LocalProvider().complete(
        user("The stove caught fire!", response_schema=ResponseSchema("s", schema))
    )
    mild = await LocalProvider().complete(
        user("The box was a bit dented", response_schema=ResponseSchema("s", schema))
    )
    assert severe.parsed == {"severe": True} and mild.parsed == {"severe": False}


async def test_chooses_a_tool_and_summarizes_its_result() -> None:
    tool = ToolSpec("lookup_order", "Look up the status of an order by its order id",
                    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]})  # fmt: skip
    provider = LocalProvider()
    call = await provider.complete(user("What is the status of order A-777?", tools=(tool,)))
    assert call.tool_calls[0].name == "lookup_order" and call.tool_calls[0].arguments == {
        "order_id": "A-777"
    }
    assert call.finish_reason == "tool_calls"
    no_id = await provider.complete(user("What is the status of my order?", tools=(tool,)))
    assert no_id.tool_calls == ()
    follow = ChatRequest(messages=(
        ChatMessage(role="user", content="status of A-777?"),
        ChatMessage(role="assistant", tool_calls=call.tool_calls),
        ChatMessage(role="tool", tool_call_id="call_lookup_order", content='{"status": "shipped"}'),
    ))  # fmt: skip
    assert "status: shipped" in (await provider.complete(follow)).content


async def test_streams_the_same_answer_word_by_word() -> None:
    request = user("How many days do I have to return an item?", documents=DOCS)
    provider = LocalProvider()
    whole = await provider.complete(request)
    parts, final = [], None
    async for delta in provider.stream(request):
        parts.append(delta.text)
        final = delta.result or final
    assert len([p for p in parts if p]) > 5 and "".join(parts) == whole.content
    assert final is not None and final.content == whole.content


async def test_max_output_tokens_truncates() -> None:
    result = await LocalProvider().complete(
        user("return an item within days?", documents=DOCS, max_output_tokens=3)
    )
    assert result.finish_reason == "length" and len(result.content) <= 12


def test_factory_picks_the_provider_from_settings() -> None:
    assert isinstance(build_llm_provider(LLMSettings()), LocalProvider)
    remote = build_llm_provider(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    assert isinstance(remote, OpenAICompatibleProvider)
    assert isinstance(
        build_llm_provider(LLMSettings(provider="local", api_key="sk-x")), LocalProvider
    )


def test_catalog_prices_and_validation() -> None:
    settings = LLMSettings()
    catalog = settings.catalog()
    small = catalog.resolve(None, None)
    assert small.tier == "small" and catalog.resolve("gpt-4o", None).tier == "large"
    assert small.cost_micros(1_000_000, 0) == small.input_price_micros_per_million
    assert small.cost_micros(1, 1) == 1  # rounded up, never under-billed
    with pytest.raises(ValueError, match="fallback_models"):
        LLMSettings(fallback_models=["nope"])
    with pytest.raises(ValueError, match="default_tier"):
        LLMSettings(default_tier="huge")


@pytest.mark.parametrize(
    ("message", "label"),
    [
        ("The parcel was left in the rain and everything is soaked. Not happy.", "complaint"),
        ("Nobody answers my emails about my order, ridiculous", "complaint"),
        ("My order has not arrived yet", "order_status"),
        ("I am happy with the order, where is the tracking link?", "order_status"),
        ("Hello!", "greeting"),
        ("Can I pay with a gift card?", "faq"),
    ],
)
async def test_classification_weighs_tone_phrases_and_shared_words(
    message: str, label: str
) -> None:
    description = (
        "- complaint: unhappy, angry, broken, damaged, poor service\n"
        "- order_status: where is my order, order status, tracking, package\n"
        "- faq: questions about payment, gift cards, returns, shipping\n"
        "- greeting: hello, hi, thanks, bye"
    )
    schema = {"type": "object", "properties": {"label": {
        "type": "string", "enum": ["complaint", "order_status", "faq", "greeting"],
        "description": description, "default": "faq"}}}  # fmt: skip
    result = await LocalProvider().complete(
        user(message, response_schema=ResponseSchema("c", schema))
    )
    assert result.parsed == {"label": label}


async def test_table_rows_are_quoted_as_sentences_naming_their_columns() -> None:
    table = Document(title="Delivery times", id="kb-t", text=(
        "Destination | Price | Delivery time\nCanada | $19.95 | 5-8 business days\n"
        "Mexico | $29.95 | 7-10 business days"))  # fmt: skip
    result = await LocalProvider().complete(
        user("How long does delivery to Mexico take?", documents=(table, *DOCS))
    )
    assert result.content.startswith(
        "Mexico: price $29.95, delivery time 7-10 business days. [1]"
    ), result.content


async def test_an_faq_question_hands_over_to_its_answer_and_context_comes_along() -> None:
    faq = Document(title="Company FAQ", id="kb-f", text=(
        "Do you sell bikes or skis?\nNo. We do not sell bikes, skis or climbing ropes.\n\n"
        "Do you have stores?\nYes, in Denver and Portland."))  # fmt: skip
    result = await LocalProvider().complete(user("Do you sell bikes?", documents=(faq,)))
    body = result.content.split("\n\nSources:")[0]
    assert "We do not sell bikes" in body and "Do you sell bikes or skis?" not in body
    assert "Denver" not in body and result.content.endswith("Sources: [1] Company FAQ")


async def test_answers_quote_more_than_one_sentence_when_they_carry_the_point() -> None:
    result = await LocalProvider().complete(
        user("How many days do I have to return an item?", documents=DOCS)
    )
    body = result.content.split("\n\nSources:")[0]
    assert body.count("[1]") >= 2 and "original packaging" in body, result.content
