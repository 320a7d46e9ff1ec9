from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.chat.engines import ScriptedEngine
from tests.conftest import Stack


@pytest.fixture
async def engine(env: Stack) -> AsyncIterator[ScriptedEngine]:
    """The stack's chat runs turns through a scripted engine for this test."""
    chat = env.platform.chat
    previous = chat.service.engine
    scripted = ScriptedEngine()
    chat.use(engine=scripted)
    try:
        yield scripted
    finally:
        chat.service.engine = previous
