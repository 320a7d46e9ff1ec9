"""The chat domain's routers: under /api/v1, and outside it (OpenAI-compatible /v1, WebSocket)."""

from __future__ import annotations

from aiaas.chat.channel_endpoints import router as channels_router
from aiaas.chat.endpoints import router as conversations_router
from aiaas.chat.inbox_endpoints import router as inbox_router
from aiaas.gateway.openai_compat import router as openai_router
from aiaas.realtime.endpoints import router as realtime_router

routers = [conversations_router, inbox_router, channels_router]


outside_api = [openai_router, realtime_router]
"""``/v1/chat/completions``, ``/v1/models`` and ``WS /ws/chat``."""
