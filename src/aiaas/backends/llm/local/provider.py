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
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from aiaas.backends.llm.config import LOCAL_MODEL
from aiaas.backends.llm.documents import citations_for, documents_in
from aiaas.backends.llm.local.extract import Evidence, fill_schema
from aiaas.backends.llm.local.text import (
    SOCIAL_WORDS,
    Idf,
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

    async def close(self) -> None:
        """Nothing to release: the model runs in this process."""

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
        if not query or (words & SOCIAL_WORDS and len(query) <= 1 and not documents):
            # nothing to look up: small talk gets a friendly word, anything else the plain answer
            if words & (_THANKS_WORDS - {"you", "great", "ok", "okay"}):
                return GroundedAnswer(THANKS, False, 0.0)
            if words & _GREETING_WORDS:
                return GroundedAnswer(GREETING, False, 0.0)
            return GroundedAnswer(NO_ANSWER, False, 0.0)
        units = [
            _Unit(doc_index, position, sentence, term_set(sentence), term_set(doc.title))
            for doc_index, doc in enumerate(documents)
            for position, sentence in enumerate(passage_units(doc.text))
        ]
        if not units:
            return GroundedAnswer(NO_ANSWER, False, 0.0)
        scored = sorted(
            score_units(question, query, units, len(documents)),
            key=lambda item: (-item[0], item[1].doc, item[1].position),
        )
        best = scored[0][0]
        if best < self.min_relevance:
            return GroundedAnswer(NO_ANSWER, False, round(best, 3))
        chosen = self._compose(query, scored, units)
        chosen.sort(key=lambda u: (u.doc, u.position))
        body = " ".join(f"{_ensure_period(u.text)} [{u.doc + 1}]" for u in chosen)
        cited = sorted({u.doc for u in chosen})
        sources = "; ".join(f"[{i + 1}] {documents[i].title}" for i in cited)
        return GroundedAnswer(f"{body}\n\nSources: {sources}", True, round(best, 3))

    def _compose(
        self, query: set[str], scored: list[tuple[float, _Unit]], units: list[_Unit]
    ) -> list[_Unit]:
        """The best sentence, the sentences around it that carry on its point (the next one, or
        the one before a sentence that leans on it), then other relevant sentences that cover
        more of the question, up to ``max_sentences``."""
        best, lead = scored[0]
        chosen = [lead]
        covered = set(lead.terms & query)
        neighbours = {(u.doc, u.position): u for u in units}
        if _ANAPHORA.match(lead.text):
            before = neighbours.get((lead.doc, lead.position - 1))
            if before is not None:
                chosen.append(before)
        after = neighbours.get((lead.doc, lead.position + 1))
        if (
            after is not None
            and len(chosen) < self.max_sentences
            and (after.terms & (query | lead.terms) or _ANAPHORA.match(after.text))
        ):
            chosen.append(after)
        for score, unit in scored[1:]:
            if len(chosen) >= self.max_sentences or score < max(self.min_relevance, best * 0.6):
                break
            if unit in chosen or (unit.terms & query) <= covered:
                continue
            if unit.doc not in {c.doc for c in chosen} and score < best * 0.8:
                continue  # another passage only for a point nearly as relevant
            chosen.append(unit)
            covered |= unit.terms & query
        return chosen


@dataclass(frozen=True)
class _Unit:
    """A sentence, bullet, list step or table row of a passage."""

    doc: int
    position: int
    text: str
    terms: set[str] = field(compare=False, hash=False)
    title_terms: set[str] = field(compare=False, hash=False)


def score_units(
    question: str, query: set[str], units: Sequence[_Unit], documents: int
) -> list[tuple[float, _Unit]]:
    """How well each unit answers the question.

    The base is the IDF-weighted share of the question's terms found in the sentence and its
    passage title, blended with how well its whole passage covers the question and a small prior
    for the passages the search ranked first. Word pairs of the question found as they are add a
    little. A sentence that leans on the one before ("It...", "All of the above...") or negates
    what a positive question asks about counts less; a question in the passage (an FAQ entry)
    hands most of its relevance to the sentence that answers it. A sentence holding the kind
    of fact the question asks for ("how long": a duration, "how much": an amount) gains a little.
    """
    idf = Idf(u.terms | u.title_terms for u in units)
    # Flattened IDF: over a handful of retrieved passages the word that made them relevant is in
    # most of them, and must not count for less than an incidental one. Words no passage has
    # weigh like an average word, not like the rarest one; number words hardly count.
    seen = [1.0 + idf.weight(t) for t in query if idf.seen(t)]
    usual = sum(seen) / len(seen) if seen else 1.0
    weights = {
        t: 0.3 if t in _NUMBER_WORDS else (1.0 + idf.weight(t) if idf.seen(t) else usual)
        for t in query
    }
    total = sum(weights.values()) or 1.0

    def share(found: set[str]) -> float:
        return sum(w for t, w in weights.items() if t in found) / total

    passage_terms: dict[int, set[str]] = {}
    for unit in units:
        passage_terms.setdefault(unit.doc, set(unit.title_terms)).update(unit.terms)
    pairs = query_pairs(question)
    asks_negative = bool(_NEGATION.search(question))
    wanted = [shape for cue, shape in _ANSWER_SHAPES if cue.search(question)]
    raw: list[float] = []
    for unit in units:
        score = 0.55 * share(unit.terms | unit.title_terms) + 0.15 * share(unit.terms)
        score += 0.3 * share(passage_terms[unit.doc])
        if pairs:
            score += 0.15 * len(pairs & sentence_pairs(unit.text)) / len(pairs)
        if any(shape.search(unit.text) for shape in wanted):
            score += 0.1  # the kind of fact asked for: a duration, an amount, a place...
        if _ANAPHORA.match(unit.text):
            score *= 0.75
        if not asks_negative and _NEGATION.search(unit.text) and unit.terms & query:
            score *= 0.85
        raw.append(score + 0.05 * (documents - unit.doc) / max(1, documents))
    scores = list(raw)
    for index, unit in enumerate(units):
        if unit.text.rstrip().endswith("?"):
            scores[index] = raw[index] * 0.5
            follower = index + 1
            if follower < len(units) and units[follower].doc == unit.doc:
                scores[follower] = max(scores[follower], raw[index] * 0.95)
    return list(zip(scores, units, strict=True))


_DURATION = re.compile(
    r"(?i)\b(?:\d+|one|two|three|four|five|six|seven|ten|fourteen|thirty|sixty|next)"
    r"(?:\s*(?:-|to)\s*\d+)?[\s-]+(?:business\s+|working\s+)?"
    r"(?:minutes?|hours?|days?|weeks?|months?|years?)\b|\blifetime\b|\bimmediately\b"
)
_ANSWER_SHAPES = (
    (re.compile(r"(?i)\bhow (?:long|many days|soon|quickly)\b|\bwhen will\b"), _DURATION),
    (
        re.compile(r"(?i)\bhow much\b|\b(?:cost|costs|price|fee|fees|charge)\b"),
        re.compile(r"[$€£]\s?\d|\b\d+(?:\.\d+)?\s?(?:usd|dollars|%)|\bfree\b", re.I),
    ),
    (
        re.compile(r"(?i)\bwhere\b"),
        re.compile(r"\b(?:in|at|to|from) (?:the )?[A-Z][a-z]+|\b(?:page|menu|section)\b"),
    ),
)
_NUMBER_WORDS = frozenset(
    [
        "zero",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "first",
        "second",
        "third",
    ]
)
_NEGATION = re.compile(
    r"(?i)\b(?:not|no|never|cannot|can't|don't|doesn't|isn't|aren't|won't|without)\b"
)
_ANAPHORA = re.compile(
    r"(?i)^(?:it|this|that|these|those|they|them|there|all of the above|the above|also|then|"
    r"once|otherwise|change it|do this|in that case)\b"
)
_TABLE_ROW = re.compile(r"^\|?[^|\n]+(?:\|[^|\n]*)+\|?$")
_STEP = re.compile(r"\n\s*\d{1,2}[.)]\s+")


def passage_units(text: str) -> list[str]:
    """What an answer quotes from a passage: its sentences and list items, with each table row
    written out as a sentence that names its columns (``Canada: flat rate $19.95, delivery time
    5-8 business days``)."""
    units: list[str] = []
    header: list[str] | None = None
    prose: list[str] = []

    def flush() -> None:
        if prose:
            units.extend(split_sentences(_STEP.sub("\n- ", "\n" + "\n".join(prose)).strip()))
            prose.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if _TABLE_ROW.match(stripped) and stripped.count("|") >= 1:
            flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue  # the separator row of a Markdown table
            if header is None:
                header = cells
                continue
            units.append(_row_sentence(header, cells))
            continue
        header = None
        prose.append(line)
    flush()
    return [u.lstrip("-*\u2022 ") for u in units if u.strip(" -*\u2022")]


def _row_sentence(header: list[str], cells: list[str]) -> str:
    facts = [
        f"{name[:1].lower() + name[1:]} {value}" if name else value
        for name, value in zip(header[1:], cells[1:], strict=False)
        if value
    ]
    return f"{cells[0]}: {', '.join(facts)}" if facts else cells[0]


def query_pairs(text: str) -> set[tuple[str, str]]:
    """Consecutive content words of the question."""
    return {(a, b) for a, b in pairwise(terms(text)) if a != b}


def sentence_pairs(text: str) -> set[tuple[str, str]]:
    return set(pairwise(terms(text)))


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
