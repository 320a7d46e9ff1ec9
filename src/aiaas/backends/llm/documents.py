"""Knowledge passages in prompts: one text format that remote models read and the local provider
parses."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiaas.backends.llm.types import ChatMessage, Citation, Document

HEADER = (
    "Knowledge passages (cite them as [n]; answer only from them; say so when they do not answer):"
)
_PASSAGE = re.compile(
    r"^\[(\d{1,3})\] (.*?)(?: <(\S+)>)?\n(.*?)(?=\n\n\[\d{1,3}\] |\Z)", re.S | re.M
)
_MARKER = re.compile(r"\[(\d{1,3})\]")


def render_documents(documents: Sequence[Document]) -> str:
    """A system message body listing ``documents`` as ``[n] title <id>`` blocks."""
    blocks = []
    for number, doc in enumerate(documents, start=1):
        ident = f" <{doc.id}>" if doc.id and not any(c.isspace() for c in doc.id) else ""
        title = " ".join(doc.title.split()) or f"Passage {number}"
        blocks.append(f"[{number}] {title}{ident}\n{doc.text.strip()}")
    return HEADER + "\n\n" + "\n\n".join(blocks)


def parse_documents(text: str) -> list[Document]:
    """The documents of a message rendered by :func:`render_documents` (else empty)."""
    if not text.startswith(HEADER):
        return []
    body = text[len(HEADER) :].lstrip("\n")
    return [
        Document(title=match.group(2), id=match.group(3), text=match.group(4).strip())
        for match in _PASSAGE.finditer(body)
    ]


def with_documents(
    messages: Sequence[ChatMessage], documents: Sequence[Document]
) -> list[ChatMessage]:
    """``messages`` with the passages inserted as a system message after the leading system
    messages."""
    if not documents:
        return list(messages)
    insert_at = 0
    while insert_at < len(messages) and messages[insert_at].role == "system":
        insert_at += 1
    rendered = ChatMessage(role="system", content=render_documents(documents))
    return [*messages[:insert_at], rendered, *messages[insert_at:]]


def documents_in(messages: Sequence[ChatMessage]) -> list[Document]:
    """Passages found in the system messages of a conversation (rendered by this module)."""
    found: list[Document] = []
    for message in messages:
        if message.role == "system":
            found.extend(parse_documents(message.content))
    return found


def citations_for(text: str, documents: Sequence[Document]) -> tuple[Citation, ...]:
    """The citations of the ``[n]`` markers in ``text`` that point at one of ``documents``, in
    order."""
    seen: dict[int, Citation] = {}
    for match in _MARKER.finditer(text):
        index = int(match.group(1))
        if 1 <= index <= len(documents) and index not in seen:
            doc = documents[index - 1]
            seen[index] = Citation(index=index, title=doc.title, id=doc.id, url=doc.url)
    return tuple(seen.values())
