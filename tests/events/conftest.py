"""Fixtures of the events tests, parametrized over both databases and both buses.

The database set-up lives in the ``events_database`` fixture alone (``Base.metadata.create_all`` for
now); each test starts from empty tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import pytest

from aiaas.backends.bus import Bus
from aiaas.backends.bus.memory import MemoryBus
from aiaas.config import EventsSettings, Settings
from aiaas.events import outbox
from aiaas.kit.db import Database
from tests.events.support import (
    create_postgres_database,
    create_schema,
    dispose_nats_bus,
    empty_tables,
    make_tenant,
    need,
    registered_test_event,
    start_nats_bus,
)
from tests.services import NATS_URL, drop_scratch_database


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def events_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """One database per kind for the session, its schema created once."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("events-db") / "events.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        await create_schema(db)
        yield db
        await db.dispose()
        return
    scratch = await create_postgres_database()
    db = Database(scratch.owner_url, pool_size=5)
    try:
        await create_schema(db)
        yield db
    finally:
        await db.dispose()
        await drop_scratch_database(scratch)


@pytest.fixture
async def database(events_database: Database) -> Database:
    """The session's database, emptied for this test."""
    await empty_tables(events_database)
    return events_database


@pytest.fixture
async def tenant(database: Database) -> UUID:
    return await make_tenant(database)


@pytest.fixture(autouse=True)
def _test_event_type() -> Iterator[None]:
    with registered_test_event():
        yield


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    # As the platform does at start-up (set_outbox_namespace); undone after the test.
    monkeypatch.setattr(outbox, "_namespace", f"t{suffix}")
    return Settings(
        _env_file=None,
        namespace=f"t{suffix}",
        events=EventsSettings(
            stream=f"TEST_{suffix.upper()}",
            relay_batch_size=50,
            relay_sweep_seconds=0.5,
            max_deliver=3,
            ack_wait_seconds=10.0,
            redelivery_backoff_seconds=0.01,
        ),
    )


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = MemoryBus()
        await memory.start()
        yield memory
        await memory.close()
        return
    await need("nats")
    nats_bus = await start_nats_bus(NATS_URL, settings)
    try:
        yield nats_bus
    finally:
        await dispose_nats_bus(nats_bus)
