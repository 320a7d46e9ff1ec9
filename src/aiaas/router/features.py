"""Features of one turn, computed in microseconds and cached per turn.

The vector is what the tier policy learns on; the named values go back to the caller as the
reasons for a decision. Every value is bounded to [-1, 1] or [0, 1] so that no feature dominates the
policy's ridge regression by its scale alone.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FEATURE_NAMES = (
    "bias",
    "length",
    "question",
    "sentiment",
    "negative",
    "retrieval_confidence",
    "turn",
    "customer_tier",
    "tenant_plan",
    "intent_confidence",
    "out_of_scope",
    "recent_quality",
    "foreign_language",
)
DIMENSIONS = len(FEATURE_NAMES)
INTENT_SCORES_SHOWN = 3

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the a an and or is are was were be to of in on for with my your i you it this that "
        "not do does did have has can could would please what when where why how me we our"
    ),
    "es": _words(
        "el la los las un una y o es son fue ser de en por para con mi tu yo usted esto eso no "
        "hacer tiene puede qué cuando donde por qué cómo me nosotros nuestro pedido gracias"
    ),
    "fr": _words(
        "le la les un une et ou est sont était être de du des en pour avec mon ma mes je vous "
        "ce cela ne pas fait avoir peut quoi quand où pourquoi comment moi nous notre merci"
    ),
    "de": _words(
        "der die das ein eine und oder ist sind war sein zu von in auf für mit mein meine ich "
        "sie es dies nicht tun hat kann was wann wo warum wie mich wir unser bitte danke"
    ),
    "pt": _words(
        "o a os as um uma e ou é são foi ser de em por para com meu minha eu você isso não "
        "fazer tem pode quando onde porque como me nós nosso obrigado pedido"
    ),
    "it": _words(
        "il lo la gli le un una e o è sono era essere di in per con mio mia io lei questo "
        "non fare ha può cosa quando dove perché come mi noi nostro grazie ordine"
    ),
    "nl": _words(
        "de het een en of is zijn was worden van in op voor met mijn ik u dit dat niet doen "
        "heeft kan wat wanneer waar waarom hoe mij wij ons bedankt bestelling"
    ),
}

_POSITIVE = _words(
    "thanks thank great good excellent love perfect happy helpful awesome amazing nice pleased "
    "appreciate wonderful fantastic resolved works working glad fast quick easy best"
)
_NEGATIVE = _words(
    "bad terrible awful horrible worst angry hate broken useless annoyed annoying frustrated "
    "frustrating disappointed disappointing unacceptable ridiculous slow late never refund "
    "complaint complain wrong damaged missing lost cancel scam poor fail failed failing problem "
    "issue error stuck unhappy upset furious rude"
)
_NEGATIONS = _words("not no never don't doesn't didn't isn't wasn't can't cannot won't")

CUSTOMER_TIER_RANK = {
    "free": 0.0,
    "basic": 0.25,
    "standard": 0.5,
    "pro": 0.5,
    "premium": 0.75,
    "gold": 0.75,
    "vip": 1.0,
    "enterprise": 1.0,
}
PLAN_RANK = {"free": 0.0, "tiny": 0.0, "pro": 0.5, "enterprise": 1.0}


class IntentLike(Protocol):
    """What the features need from an intent prediction."""

    @property
    def label(self) -> str: ...

    @property
    def confidence(self) -> float: ...

    @property
    def out_of_scope(self) -> bool: ...


class IntentPredictor(Protocol):
    def predict(self, text: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class TurnInput:
    """Everything the router is told about one turn."""

    message: str
    turn: int = 1
    customer_tier: str | None = None
    tenant_plan: str | None = None
    retrieval_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Features:
    """Named values (shown to callers as reasons) and the policy's input vector."""

    values: Mapping[str, Any]
    vector: npt.NDArray[np.float64] = field(repr=False)
    similarity_key: str
    intent: str | None
    intent_confidence: float | None
    out_of_scope: bool


def tokenize(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def estimate_tokens(text: str, words: int) -> int:
    """A model-agnostic token estimate: about 4 characters or 0.75 words per token."""
    return max(words, math.ceil(len(text) / 4)) if text else 0


def detect_language(words: list[str]) -> tuple[str, float]:
    """The language whose common words cover most of the message, and that coverage."""
    if not words:
        return "unknown", 0.0
    best, best_hits = "unknown", 0
    for language, stopwords in _STOPWORDS.items():
        hits = sum(1 for w in words if w in stopwords)
        if hits > best_hits:
            best, best_hits = language, hits
    if best_hits == 0:
        return "unknown", 0.0
    return best, round(best_hits / len(words), 3)


def sentiment(words: list[str]) -> float:
    """Lexicon polarity in [-1, 1]; a negation flips the next sentiment word."""
    score = 0
    hits = 0
    negate = False
    for word in words:
        if word in _NEGATIONS:
            negate = True
            continue
        polarity = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
        if polarity:
            score += -polarity if negate else polarity
            hits += 1
        negate = False
    if not hits:
        return 0.0
    return max(-1.0, min(1.0, score / (hits + 1)))


def similarity_key(intent: str | None, language: str, length_bucket: int) -> str:
    """Requests that count as similar for 'recent outcomes': same intent, else same shape."""
    if intent:
        return f"intent:{intent}"
    return f"shape:{language}:{length_bucket}"


def extract(
    turn: TurnInput,
    *,
    intent: IntentLike | None,
    recent_quality: Mapping[str, float],
) -> Features:
    """Compute the features of ``turn`` (pure; no I/O)."""
    text = turn.message
    words = tokenize(text)
    tokens = estimate_tokens(text, len(words))
    language, language_share = detect_language(words)
    polarity = sentiment(words)
    length_bucket = min(int(math.log2(tokens + 1)), 10)
    intent_label = intent.label if intent is not None else None
    key = similarity_key(
        None if intent is None or intent.out_of_scope else intent_label, language, length_bucket
    )
    recent = recent_quality.get(key)
    retrieval = turn.retrieval_confidence
    customer_rank = CUSTOMER_TIER_RANK.get((turn.customer_tier or "").lower(), 0.0)
    plan_rank = PLAN_RANK.get((turn.tenant_plan or "").lower(), 0.5)
    question = "?" in text or (bool(words) and words[0] in _QUESTION_WORDS)
    confidence = float(intent.confidence) if intent is not None else None
    out_of_scope = bool(intent.out_of_scope) if intent is not None else False
    vector = np.array(
        [
            1.0,
            min(math.log1p(tokens) / 6.0, 1.0),
            1.0 if question else 0.0,
            polarity,
            1.0 if polarity <= -0.3 else 0.0,
            float(retrieval) if retrieval is not None else 0.0,
            min(math.log1p(max(turn.turn - 1, 0)) / 3.0, 1.0),
            customer_rank,
            plan_rank,
            confidence if confidence is not None else 0.0,
            1.0 if out_of_scope else 0.0,
            recent if recent is not None else 0.5,
            1.0 if language not in ("en", "unknown") else 0.0,
        ],
        dtype=np.float64,
    )
    values: dict[str, Any] = {
        "characters": len(text),
        "words": len(words),
        "tokens": tokens,
        "punctuation": len(_PUNCT.findall(text)),
        "question": question,
        "language": language,
        "language_confidence": language_share,
        "sentiment": round(polarity, 3),
        "retrieval_confidence": retrieval,
        "turn": turn.turn,
        "customer_tier": turn.customer_tier,
        "tenant_plan": turn.tenant_plan,
        "intent": intent_label,
        "intent_confidence": None if confidence is None else round(confidence, 4),
        "intent_scores": _top_scores(intent),
        "out_of_scope": out_of_scope,
        "similar_requests": key,
        "recent_quality": None if recent is None else round(recent, 4),
    }
    return Features(values, vector, key, intent_label, confidence, out_of_scope)


def _top_scores(intent: IntentLike | None) -> dict[str, float] | None:
    scores = getattr(intent, "scores", None) if intent is not None else None
    if not scores:
        return None
    return {str(label): round(float(p), 4) for label, p in list(scores)[:INTENT_SCORES_SHOWN]}


_QUESTION_WORDS = _words(
    "what when where why how who which can could is are do does did will would should"
)


class FeatureCache:
    """A bounded LRU of computed features, keyed by everything that goes into them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Features] = OrderedDict()

    @staticmethod
    def key(
        tenant: str, model_version: str | None, turn: TurnInput, *parts: Any
    ) -> tuple[Any, ...]:
        digest = hashlib.blake2b(turn.message.encode(), digest_size=12).digest()
        return (
            tenant,
            model_version,
            digest,
            turn.turn,
            turn.customer_tier,
            turn.tenant_plan,
            turn.retrieval_confidence,
            *parts,
        )

    def get(self, key: tuple[Any, ...]) -> Features | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], features: Features) -> None:
        self._items[key] = features
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
