"""The JSON frames of ``WS /ws/chat`` (documented in docs/chat.md).

Server frames carry ``type``; those stored in the conversation (``message``, ``agent.joined``,
``status``) also carry ``id``, the event id a client resumes after.
"""

from __future__ import annotations

from typing import Any

# Close codes (RFC 6455 and the IANA registry).
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHORIZED = 4401

TOKEN = "token"  # nosec B105  # the name of a message field, not a secret
NON_ESSENTIAL = frozenset({"typing", "presence", "ping", "pong"})
"""Frames that may be dropped under backpressure: the client loses nothing it cannot recover."""

CLIENT_TYPES = frozenset({"message", "typing", "ping", "pong", "resume"})


def is_essential(frame: dict[str, Any]) -> bool:
    return frame.get("type") not in NON_ESSENTIAL


def error_frame(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}


def conversation_topic(tenant_id: str, conversation_id: str) -> str:
    """Topic of one conversation's live traffic (tenant first: topics never cross tenants)."""
    return f"{tenant_id}.conv.{conversation_id}"


def inbox_topic(tenant_id: str) -> str:
    """Topic of a tenant's agents: conversations entering or leaving the handoff queue."""
    return f"{tenant_id}.inbox"
