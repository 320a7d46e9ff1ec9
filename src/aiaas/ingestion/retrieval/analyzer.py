"""The lexical analyzer: case folding, accent stripping, stopwords and Snowball stemming."""

from __future__ import annotations

import re
import threading
import unicodedata

import Stemmer

_WORD = re.compile(r"[^\W_]+")

# A small list on purpose: question words and fillers that customers add to every query, plus the
# fragments left by splitting contractions ("don't" -> "don", "t").
# fmt: off
ENGLISH_STOPWORDS = frozenset((
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "before", "being", "both", "but", "by", "can", "could", "did", "do", "does",
    "doing", "done", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here",
    "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "of", "off", "on", "once", "only",
    "or", "other", "our", "ours", "out", "over", "own", "please", "same", "she", "should", "so",
    "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would",
    "you", "your", "yours", "yourself", "hi", "hello", "hey", "thanks", "thank", "u", "ur", "im",
    "ive", "id", "dont", "cant", "wont", "didnt", "doesnt", "isnt", "s", "t", "d", "ll", "re",
    "ve", "m",
))
# fmt: on


class Analyzer:
    """Text -> index terms. The same analyzer must serve indexing and querying.

    PyStemmer objects are not thread-safe, so each thread gets its own stemmer.
    """

    def __init__(
        self, *, stopwords: frozenset[str] = ENGLISH_STOPWORDS, language: str = "english"
    ) -> None:
        self.stopwords = stopwords
        self.language = language
        self._local = threading.local()

    def _stemmer(self) -> Stemmer.Stemmer:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = Stemmer.Stemmer(self.language)
            self._local.stemmer = stemmer
        return stemmer

    def words(self, text: str) -> list[str]:
        """Folded words before stopword removal and stemming."""
        folded = text.casefold()
        if not folded.isascii():
            # ASCII has no compatibility forms or combining marks: only other text needs folding.
            folded = unicodedata.normalize("NFKD", folded)
            folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
        return _WORD.findall(folded)

    def terms(self, text: str) -> list[str]:
        """Index terms of a text, in order, duplicates kept."""
        words = [w for w in self.words(text) if w not in self.stopwords]
        return list(self._stemmer().stemWords(words)) if words else []
