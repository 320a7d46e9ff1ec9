"""The embedded language model: grounded, extractive answers with citations, no key and no network.

It answers from the knowledge passages it is given (the request's ``documents`` or passages rendered
into a system message), picking the sentences that best cover the question and citing them as
``[n]`` with their titles; it says plainly when the passages do not answer and offers a human.
Structured output follows the requested JSON schema deterministically (see :mod:`.extract`), and
tool calls are chosen by lexical overlap between the message and the tool descriptions. Usage is
estimated; the cost is zero.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiaas.backends.llm.config import LOCAL_MODEL
from aiaas.backends.llm.documents import citations_for, documents_in
from aiaas.backends.llm.local.extract import Evidence, fill_schema
from aiaas.backends.llm.local.text import (
    Idf,
    coverage,
    estimate_tokens,
    split_sentences,
    term_set,
    terms,
)
from aiaas.backends.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Document,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

NO_ANSWER = (
    "I'm sorry, I couldn't find that in our help articles. "
    "Would you like me to connect you with a human agent?"
)
GREETING = "Hello! How can I help you today?"
THANKS = "You're welcome! Is there anything else I can help you with?"
_PROMPT_WORDS = frozenset(
    terms("answer question customer based passage passages cite knowledge reply respond")
)
_GREETING_WORDS = frozenset(
    {"hi", "hello", "hey", "morning", "afternoon", "evening", "there", "good"}
)
_THANKS_WORDS = frozenset(
    {"thanks", "thank", "you", "cheers", "great", "ok", "okay", "bye", "goodbye"}
)
_CHUNK = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class GroundedAnswer:
    text: str
    grounded: bool
    confidence: float


class LocalProvider:
    """Extractive, deterministic provider used in embedded mode and as the last fallback."""

    name = "local"

    def __init__(
        self, *, model_name: str = LOCAL_MODEL, max_sentences: int = 3, min_relevance: float = 0.3
    ) -> None:
        self.model_name = model_name
        self.max_sentences = max_sentences
        self.min_relevance = min_relevance

    async def complete(self, request: ChatRequest) -> ChatResult:
        """Answer ``request`` (see the module docstring); large inputs are handled in a thread."""
        size = sum(len(m.content) for m in request.messages) + sum(
            len(d.text) for d in request.documents
        )
        if size > 50_000:
            return await asyncio.to_thread(self._complete, request)
        return self._complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        """The same answer as :meth:`complete`, delivered word by word, then the result."""
        result = await self.complete(request)
        for chunk in _CHUNK.findall(result.content):
            yield StreamDelta(text=chunk)
            await asyncio.sleep(0)
        yield StreamDelta(result=result)

    # ---- internals ----------------------------------------------------------------------------
    def _complete(self, request: ChatRequest) -> ChatResult:
        documents = list(request.documents) or documents_in(request.messages)
        user_texts = [
            m.content for m in reversed(request.messages) if m.role == "user" and m.content.strip()
        ]
        question = user_texts[0] if user_texts else ""
        tool_calls: tuple[ToolCall, ...] = ()
        parsed: dict[str, Any] | None = None
        if request.response_schema is not None:
            answer = self.answer(question, documents)
            evidence = Evidence(user_texts, answer.text, answer.grounded, answer.confidence)
            parsed = fill_schema(request.response_schema.schema, evidence)
            content = json.dumps(parsed, ensure_ascii=False)
        elif request.messages and request.messages[-1].role == "tool":
            content = _summarize_tool_result(request.messages[-1])
        else:
            call = (
                _choose_tool(question, request.tools)
                if request.messages[-1:] and request.messages[-1].role == "user"
                else None
            )
            if call is not None:
                tool_calls, content = (call,), ""
            else:
                content = self.answer(question, documents).text
        if (
            request.max_output_tokens is not None
            and estimate_tokens(content) > request.max_output_tokens
        ):
            content = content[: max(0, request.max_output_tokens * 4)]
            finish = "length"
        else:
            finish = "tool_calls" if tool_calls else "stop"
        prompt_text = "".join(m.content for m in request.messages) + "".join(
            d.text for d in request.documents
        )
        usage = Usage(
            input_tokens=estimate_tokens(prompt_text), output_tokens=estimate_tokens(content)
        )
        return ChatResult(
            content=content,
            model=self.model_name,
            provider=self.name,
            usage=usage,
            cost_micros=0,
            finish_reason=finish,
            tool_calls=tool_calls,
            parsed=parsed,
            citations=citations_for(content, documents) if parsed is None else (),
        )

    def answer(self, question: str, documents: Sequence[Document]) -> GroundedAnswer:
        """The grounded answer to ``question`` from ``documents`` (or the plain "I don't know")."""
        words = set(re.findall(r"[a-z']+", question.lower()))
        query = term_set(question) - _PROMPT_WORDS
        if not query:
            if words and words <= _THANKS_WORDS:
                return GroundedAnswer(THANKS, False, 0.0)
            if words and words & _GREETING_WORDS:
                return GroundedAnswer(GREETING, False, 0.0)
            return GroundedAnswer(NO_ANSWER, False, 0.0)
        candidates = [
            (doc_index, position, sentence, term_set(sentence) | term_set(doc.title))
            for doc_index, doc in enumerate(documents)
            for position, sentence in enumerate(split_sentences(doc.text))
        ]
        if not candidates:
            return GroundedAnswer(NO_ANSWER, False, 0.0)
        idf = Idf(c[3] for c in candidates)
        scored = sorted(
            ((coverage(query, c[3], idf), c) for c in candidates),
            key=lambda item: (-item[0], item[1][0], item[1][1]),
        )
        best = scored[0][0]
        chosen: list[tuple[int, int, str, set[str]]] = []
        per_doc: dict[int, int] = {}
        covered: set[str] = set()
        for score, candidate in scored:
            if score < self.min_relevance or len(chosen) >= self.max_sentences:
                break
            doc_index, _pos, _sentence, sentence_terms = candidate
            if per_doc.get(doc_index, 0) >= 2 or (chosen and (sentence_terms & query) <= covered):
                continue
            chosen.append(candidate)
            per_doc[doc_index] = per_doc.get(doc_index, 0) + 1
            covered |= sentence_terms & query
        if not chosen:
            return GroundedAnswer(NO_ANSWER, False, round(best, 3))
        chosen.sort(key=lambda c: (c[0], c[1]))
        body = " ".join(
            f"{_ensure_period(sentence)} [{doc_index + 1}]"
            for doc_index, _p, sentence, _t in chosen
        )
        cited = sorted({c[0] for c in chosen})
        sources = "; ".join(f"[{i + 1}] {documents[i].title}" for i in cited)
        return GroundedAnswer(f"{body}\n\nSources: {sources}", True, round(best, 3))


def _ensure_period(sentence: str) -> str:
    sentence = sentence.strip()
    return sentence if sentence[-1:] in ".!?:" else sentence + "."


def _choose_tool(question: str, tools: Sequence[ToolSpec]) -> ToolCall | None:
    """The tool whose name/description best matches the question, if its required arguments can be
    filled."""
    words = term_set(question)
    best: tuple[int, ToolSpec] | None = None
    for tool in tools:
        score = len(words & term_set(tool.name.replace("_", " ") + " " + tool.description))
        if score > 0 and (best is None or score > best[0]):
            best = (score, tool)
    if best is None:
        return None
    tool = best[1]
    arguments = fill_schema(tool.parameters, Evidence([question]))
    required = tool.parameters.get("required") or []
    if any(arguments.get(name) in (None, "", []) for name in required if isinstance(name, str)):
        return None
    return ToolCall(id=f"call_{tool.name}", name=tool.name, arguments=arguments)


def _summarize_tool_result(message: ChatMessage) -> str:
    try:
        data = json.loads(message.content)
    except (ValueError, TypeError):
        return f"Here is what I found: {message.content.strip()}"
    if isinstance(data, dict):
        facts = "; ".join(
            f"{k.replace('_', ' ')}: {v}" for k, v in data.items() if not isinstance(v, dict | list)
        )
        return (
            f"Here is what I found: {facts}."
            if facts
            else "I looked that up, but found nothing to report."
        )
    return f"Here is what I found: {json.dumps(data, ensure_ascii=False)}"
