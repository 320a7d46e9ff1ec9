"""Deterministic structured output: fill a JSON schema from the conversation.

Each property is filled by what its name, format, pattern, enum and description say: an order id, an
email, a phone number, a person's or company's name, a class label chosen by lexical overlap with
the class descriptions, a yes/no decided by the description's keywords, a number, or the grounded
answer itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import re2  # linear-time regular expressions: schema patterns come from tenants

from aiaas.backends.llm.local.text import STOPWORDS, stem, term_set, terms

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
    """The option whose name and description share the most terms with the latest text.

    Ties go to the option listed first; earlier texts are looked at only when the latest shares
    nothing with any option; no overlap at all picks ``default`` (or the last option, by convention
    the catch-all such as ``other``).
    """
    labels = list(options)
    if not labels:
        return str(default or "")
    fallback = str(default) if default in options else labels[-1]
    for text in texts[:2]:
        words = term_set(text)
        if not words:
            continue
        scores = {label: _label_score(words, label, options[label]) for label in labels}
        best = max(scores.values())
        if best > 0:
            return next(label for label in labels if scores[label] == best)
    return fallback


def _label_score(words: set[str], label: str, description: str) -> int:
    name_terms = {stem(p) for p in re.split(r"[\s_-]+", label.lower()) if p and p not in STOPWORDS}
    return len(words & (name_terms | (set(terms(description)) - _GENERIC)))


def mentions(texts: Sequence[str], description: str) -> bool:
    """True when the texts use any content word of ``description`` (minus generic words)."""
    keywords = set(terms(description)) - _GENERIC
    return any(keywords & term_set(text) for text in texts)
