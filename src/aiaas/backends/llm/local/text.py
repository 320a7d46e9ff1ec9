"""Lexical text tools for the local provider: terms, sentences, IDF-weighted overlap, token
estimates."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*[-*\u2022]\s+|\n{2,}")

STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any",
        "are", "aren't", "as", "at", "be", "because", "been", "before", "being", "below",
        "between", "both", "but", "by", "can", "can't", "could", "couldn't", "did", "didn't",
        "do", "does", "doesn't", "doing", "don't", "down", "during", "each", "few", "for", "from",
        "further", "had", "hadn't", "has", "hasn't", "have", "haven't", "having", "he", "her",
        "here", "hers", "herself", "him", "himself", "his", "how", "i", "i'd", "i'll", "i'm",
        "i've", "if", "in", "into", "is", "isn't", "it", "it's", "its", "itself", "just", "let's",
        "me", "more", "most", "my", "myself", "no", "nor", "not", "of", "off", "on", "once",
        "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own", "same",
        "she", "should", "shouldn't", "so", "some", "such", "than", "that", "that's", "the",
        "their", "theirs", "them", "themselves", "then", "there", "there's", "these", "they",
        "they'd", "they'll", "they're", "they've", "this", "those", "through", "to", "too",
        "under", "until", "up", "very", "was", "wasn't", "we", "we'd", "we'll", "we're", "we've",
        "were", "weren't", "what", "what's", "when", "when's", "where", "where's", "which",
        "while", "who", "who's", "whom", "why", "why's", "will", "with", "won't", "would",
        "wouldn't", "you", "you'd", "you'll", "you're", "you've", "your", "yours", "yourself",
        "yourselves", "please", "hi", "hello", "hey", "thanks", "thank", "want", "need", "like",
        "get", "got", "also", "tell", "know", "one", "may", "might", "much", "many", "well", "ok",
        "okay", "yes", "yeah", "long", "take", "takes", "soon", "usually", "possible", "able",
        "anything", "something", "still",
    }
)  # fmt: skip


SOCIAL_WORDS = frozenset(
    {"hi", "hello", "hey", "thanks", "thank", "bye", "goodbye", "cheers", "morning", "evening"}
)
"""Greetings and thanks: stop words for search, but what tells small talk apart."""


def stem(word: str) -> str:
    """A light suffix stripper so that ``returns``/``returned``/``returning`` meet at ``return``."""
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix, replacement in (
        ("'s", ""),
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("edly", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: len(word) - len(suffix)] + replacement
    return word


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """Stemmed content words (stop words removed), in order, with repeats."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def term_set(text: str) -> set[str]:
    """The distinct stemmed content words of ``text``."""
    return set(terms(text))


def class_terms(text: str) -> set[str]:
    """The terms a classification looks at: the content words plus greetings and thanks."""
    return term_set(text) | (set(words(text)) & SOCIAL_WORDS)


def split_sentences(text: str) -> list[str]:
    """Sentences (and bullet items) of a passage, stripped, empty ones dropped."""
    parts = _SENTENCE_END.split(text.strip())
    return [" ".join(part.split()) for part in parts if part and part.strip()]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token estimate (about four characters per token), at least 1 for non-empty
    text."""
    return 0 if not text else max(1, math.ceil(len(text) / 4))


class Idf:
    """Inverse document frequencies over a small corpus; unseen terms get the highest weight."""

    def __init__(self, documents: Iterable[set[str]]) -> None:
        self._df: dict[str, int] = {}
        self._n = 0
        for doc in documents:
            self._n += 1
            for term in doc:
                self._df[term] = self._df.get(term, 0) + 1

    def seen(self, term: str) -> bool:
        """Whether any document has ``term``."""
        return term in self._df

    def weight(self, term: str) -> float:
        df = self._df.get(term, 0)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))


def coverage(query_terms: set[str], text_terms: set[str], idf: Idf | None = None) -> float:
    """Share (0..1) of the query's weighted terms that ``text_terms`` contains."""
    if not query_terms:
        return 0.0
    weight = idf.weight if idf else (lambda _t: 1.0)
    total = sum(weight(t) for t in query_terms)
    if total <= 0:
        return 0.0
    return sum(weight(t) for t in query_terms & text_terms) / total


def best_coverage(query: str, passages: Sequence[str]) -> float:
    """The share (0..1) of the query's content words that the best of ``passages`` contains.

    Unweighted on purpose: over a handful of retrieved passages, IDF would discount exactly the
    words that made them relevant.
    """
    query_terms = term_set(query)
    if not query_terms or not passages:
        return 0.0
    return max(coverage(query_terms, term_set(p)) for p in passages)
