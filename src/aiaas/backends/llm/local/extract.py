"""Deterministic structured output: fill a JSON schema from the conversation.

Each property is filled by what its name, format, pattern, enum and description say: an order id, an
email, a phone number, a person's or company's name, a class label chosen by lexical overlap with
the class descriptions, a yes/no decided by the description's keywords, a number, or the grounded
answer itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import re2  # linear-time regular expressions: schema patterns come from tenants

from aiaas.backends.llm.local.text import STOPWORDS, class_terms, stem, term_set, terms

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{6,18}\d(?!\w)")
ORDER_ID = re.compile(
    r"(?:(?i:order|ord|purchase)\s*(?i:id|number|no\.?|num|#)?\s*[:#]?\s*|#)([A-Za-z]{0,5}-?\d{3,12}(?:-\d{1,6})?)"
    r"|\b([A-Z]{1,5}-\d{3,12})\b"
)
NUMBER = re.compile(r"(?<![\w+#@.-])-?\d+(?:\.\d+)?(?![\w@-]|\.\d)")
_NAME_INTRO = re.compile(
    r"(?i:\bmy name is|\bname\s*[:=]|\bthis is|\bi am|\bi'm|\bcall me)\s+"
    r"([A-Za-z][A-Za-z'-]+(?:\s+[A-Za-z][A-Za-z'-]+)?)"
)
_COMPANY = re.compile(
    r"(?i:\b(?:i|we)\s+(?:work|am|are)\s+(?:at|for|with)|\bfrom|\bcompany\s*(?:is|:)|\bat)\s+"
    r"([A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,3})"
)
_NOT_NAMES = frozenset(
    {"here", "looking", "trying", "interested", "not", "sure", "sorry", "very", "so", "just"}
)
_GENERIC = frozenset(
    {
        "true",
        "false",
        "customer",
        "user",
        "message",
        "say",
        "says",
        "mention",
        "report",
        "ask",
        "when",
        "whether",
    }
)
_MESSAGE_LIKE = frozenset(
    {
        "message",
        "question",
        "query",
        "request",
        "issue",
        "text",
        "description",
        "details",
        "summary",
    }
)
_GROUNDED = ("grounded", "answerable", "found", "confident", "supported")
_ANSWER = ("answer", "reply", "response")


@dataclass(frozen=True)
class Evidence:
    """What the schema is filled from: user texts (most recent first) and the grounded answer, if
    any."""

    texts: Sequence[str]
    answer: str = ""
    grounded: bool = False
    confidence: float = 0.0


def fill_schema(schema: dict[str, Any], evidence: Evidence) -> dict[str, Any]:
    """An object for ``schema`` (``type: object``) with every property filled or set to its empty
    value."""
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return {}
    return {
        name: _fill(name, prop if isinstance(prop, dict) else {}, evidence)
        for name, prop in properties.items()
    }


def _types(prop: dict[str, Any]) -> list[str]:
    value = prop.get("type", "string")
    if isinstance(value, list):
        return [str(v) for v in value]
    if "enum" in prop and "type" not in prop:
        return ["string"]
    return [str(value)]


def _fill(name: str, prop: dict[str, Any], evidence: Evidence) -> Any:
    types = _types(prop)
    nullable = "null" in types
    kind = next((t for t in types if t != "null"), "string")
    key = name.lower()
    description = str(prop.get("description") or "")
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return classify(
            evidence.texts, _enum_options(prop["enum"], description), default=prop.get("default")
        )
    if kind == "object":
        return fill_schema(prop, evidence)
    if kind == "array":
        return _fill_array(key, prop, evidence)
    if kind == "boolean":
        if key.startswith(_GROUNDED) or key.endswith(_GROUNDED):
            return evidence.grounded
        return mentions(evidence.texts[:1], description or name)
    if kind in ("number", "integer"):
        if "confidence" in key or "score" in key:
            return (
                round(evidence.confidence, 3)
                if kind == "number"
                else int(evidence.confidence * 100)
            )
        found = _first(evidence.texts, lambda t: _group(NUMBER.search(t)))
        if found is None:
            return None if nullable else 0
        return float(found) if kind == "number" else int(float(found))
    value = _extract_string(key, prop, evidence)
    if value is None and not nullable:
        return ""
    return value


def _extract_string(key: str, prop: dict[str, Any], evidence: Evidence) -> str | None:
    pattern = prop.get("pattern")
    if isinstance(pattern, str) and pattern:
        return _first(evidence.texts, lambda t: _pattern_search(pattern, t))
    if prop.get("format") == "email" or "email" in key:
        return _first(evidence.texts, lambda t: _group(EMAIL.search(t)))
    if "phone" in key or "mobile" in key:
        return _first(evidence.texts, lambda t: _group(PHONE.search(t)))
    if "order" in key:
        return _first(evidence.texts, _order_id)
    if "company" in key or "organization" in key or "organisation" in key:
        return _first(evidence.texts, lambda t: _group(_COMPANY.search(t), 1))
    if key == "name" or key.endswith("_name") or key in ("customer", "contact"):
        return _first(evidence.texts, _person_name)
    if key.startswith(_ANSWER) or key.endswith(_ANSWER):
        return evidence.answer
    if key in _MESSAGE_LIKE or key.endswith(("summary", "_text", "_message")):
        return evidence.texts[0] if evidence.texts else ""
    return None


def _fill_array(key: str, prop: dict[str, Any], evidence: Evidence) -> list[Any]:
    raw_items = prop.get("items")
    items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {}
    if items.get("format") == "email" or "email" in key:
        return sorted({m for t in evidence.texts for m in EMAIL.findall(t)})
    if "order" in key:
        return sorted({o for t in evidence.texts for o in _all_order_ids(t)})
    return []


def _first(texts: Sequence[str], finder: Callable[[str], str | None]) -> str | None:
    for text in texts:
        found = finder(text)
        if found:
            return found
    return None


def _group(match: re.Match[str] | None, group: int = 0) -> str | None:
    return match.group(group).strip() if match else None


def _pattern_search(pattern: str, text: str) -> str | None:
    unanchored = pattern.removeprefix("^").removesuffix("$")
    try:
        match = re2.search(unanchored, text)
    except Exception:  # an invalid tenant pattern matches nothing
        return None
    if match is None:
        return None
    return str(match.group(1) if match.re.groups else match.group(0))


def _order_id(text: str) -> str | None:
    ids = _all_order_ids(text)
    return ids[0] if ids else None


def _all_order_ids(text: str) -> list[str]:
    return [(m.group(1) or m.group(2)).upper() for m in ORDER_ID.finditer(text)]


def _person_name(text: str) -> str | None:
    for match in _NAME_INTRO.finditer(text):
        parts = match.group(1).split()
        kept = []
        for part in parts:
            if part.lower() in _NOT_NAMES or part.lower() in STOPWORDS:
                break
            kept.append(part[:1].upper() + part[1:])
        if kept:
            return " ".join(kept)
    return None


def _enum_options(values: list[Any], description: str) -> dict[str, str]:
    """Class descriptions from lines ``- name: description`` of the property's description."""
    described: dict[str, str] = {}
    for line in description.splitlines():
        label, sep, text = line.strip().lstrip("-*").partition(":")
        if sep:
            described[label.strip()] = text.strip()
    return {str(v): described.get(str(v), "") for v in values}


def classify(texts: Sequence[str], options: dict[str, str], *, default: Any = None) -> str:
    """The option whose name and description best match the latest text.

    Each option is scored by the terms it shares with the text, weighted by how few options use
    the term (a word every class mentions decides nothing), plus a bonus for each of its
    comma-separated phrases of two or more words found whole in the text. Options whose
    description speaks of discontent (``unhappy``, ``angry``, ``complaint``...) also score the
    text's negative tone: negative words and negated positive ones (``not happy``, ``never
    arrived``). Ties go to the option listed first; earlier texts are looked at only when the
    latest matches nothing; no match at all picks ``default`` (or the last option, by convention
    the catch-all such as ``other``).
    """
    labels = list(options)
    if not labels:
        return str(default or "")
    fallback = str(default) if default in options else labels[-1]
    profiles = {label: _Profile.of(label, options[label]) for label in labels}
    spread: dict[str, int] = {}
    for profile in profiles.values():
        for term in profile.terms:
            spread[term] = spread.get(term, 0) + 1
    for text in texts[:2]:
        words = class_terms(text)
        tone = negative_tone(text)
        if not words and not tone:
            continue
        scores = {
            label: profiles[label].score(words, tone, spread, len(labels)) for label in labels
        }
        best = max(scores.values())
        if best > 0:
            return next(label for label in labels if scores[label] == best)
    return fallback


@dataclass(frozen=True)
class _Profile:
    terms: frozenset[str]
    phrases: tuple[frozenset[str], ...]
    negative: bool

    @classmethod
    def of(cls, label: str, description: str) -> _Profile:
        name_terms = {
            stem(p) for p in re.split(r"[\s_-]+", label.lower()) if p and p not in STOPWORDS
        }
        described = class_terms(description) - _GENERIC
        phrases = tuple(
            frozenset(found)
            for part in re.split(r"[,;\n]", description)
            if len(found := class_terms(part) - _GENERIC) >= 2
        )
        negative = bool((name_terms | described) & _NEGATIVE_STEMS)
        return cls(frozenset(name_terms | described), phrases, negative)

    def score(self, words: set[str], tone: int, spread: dict[str, int], classes: int) -> float:
        total = sum(math.log(1.0 + classes / spread.get(term, 1)) for term in words & self.terms)
        total += sum(0.5 * len(phrase) for phrase in self.phrases if phrase <= words)
        if self.negative and tone:
            total += 0.75 * tone * math.log(1.0 + classes)
        return total


# Words of discontent; a class whose description uses some of them is the one negative tone
# points to.
_NEGATIVE = (
    "unhappy angry upset annoyed furious frustrated disappointed dissatisfied unacceptable "
    "terrible awful horrible worst bad poor rude useless ridiculous disgusting outrageous "
    "broken damaged defective faulty ruined soaked wet torn ripped scratched stained missing late "
    "delayed wrong complaint complain fault mess scam fraud refuse ignored"
)
_NEGATIVE_STEMS = frozenset(stem(w) for w in _NEGATIVE.split())
_POSITIVE = frozenset(
    [
        "happy",
        "satisfied",
        "pleased",
        "good",
        "great",
        "ok",
        "okay",
        "acceptable",
        "working",
        "work",
        "arrived",
        "received",
        "helpful",
        "fine",
        "fair",
        "right",
    ]
)
_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nobody",
        "nothing",
        "nowhere",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "doesn't",
        "don't",
        "didn't",
        "hasn't",
        "haven't",
        "hadn't",
        "won't",
        "can't",
        "cannot",
        "couldn't",
        "wouldn't",
    ]
)
_RAW_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def negative_tone(text: str) -> int:
    """How many negative cues ``text`` has: words of discontent, positive words after a negation
    (``not happy``, ``never arrived``) and ``nobody``/``no one`` doing something."""
    raw = _RAW_WORD.findall(text.lower())
    cues = sum(1 for w in raw if stem(w) in _NEGATIVE_STEMS)
    for index, word in enumerate(raw):
        if word in _NEGATORS:
            following = raw[index + 1 : index + 3]
            negated = any(w in _POSITIVE for w in following)
            if negated or word == "nobody" or (word == "no" and following[:1] == ["one"]):
                cues += 1
    return cues


def mentions(texts: Sequence[str], description: str) -> bool:
    """True when the texts use any content word of ``description`` (minus generic words)."""
    keywords = set(terms(description)) - _GENERIC
    return any(keywords & term_set(text) for text in texts)
