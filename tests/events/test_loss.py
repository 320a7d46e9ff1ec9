"""No event lost, no effect doubled: 1,000 events through outbox, relay, bus and consumers while the
bus dies mid-stream (a real ``nats-server`` killed and restarted; the in-process bus torn down and
rebuilt from the database)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import func, select

from aiaas.backends.bus.memory import MemoryBus
from aiaas.config import Settings
from aiaas.events.audit import AuditLogConsumer
from aiaas.events.consumer import ConsumerRunner
from aiaas.events.models import AuditLogEntry, DeadLetter
from aiaas.events.relay import OutboxRelay
from aiaas.kit.db import Database
from tests.events.support import (
    EffectConsumer,
    effect_counts,
    effects,
    make_tenant,
    outbox_count,
    record_things,
    start_nats_bus,
    wait_for,
)
from tests.services import REQUIRED

TOTAL = 1_000
PER_TRANSACTION = 5
TENANTS = 5
NATS_SERVER = shutil.which("nats-server", path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")


async def produce(
    db: Database, tenants: list[UUID], on_progress: Callable[[int], Awaitable[None]]
) -> None:
    """Record TOTAL events, PER_TRANSACTION per transaction, round-robin over the tenants."""
    for index, start in enumerate(range(0, TOTAL, PER_TRANSACTION)):
        await record_things(
            db, tenants[index % len(tenants)], range(start, start + PER_TRANSACTION)
        )
        await on_progress(start + PER_TRANSACTION)


async def assert_exactly_once(db: Database, tenants: list[UUID]) -> None:
    async def all_done() -> bool:
        return await effect_counts(db) == (TOTAL, TOTAL) and await audit_count(db, tenants) == TOTAL

    await wait_for(all_done, within=90)
    assert await effect_counts(db) == (TOTAL, TOTAL)  # no duplicate effect
    async with db.transaction(None) as session:
        numbers = set((await session.execute(select(effects.c.n))).scalars())
    assert numbers == set(range(TOTAL))  # nothing lost
    await wait_for(lambda: _is_zero(outbox_count(db, tenants)), within=30)
    for tenant_id in tenants:
        async with db.transaction(tenant_id) as session:
            dead = (await session.execute(select(func.count()).select_from(DeadLetter))).scalar()
        assert dead == 0


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def audit_count(db: Database, tenants: list[UUID]) -> int:
    total = 0
    for tenant_id in tenants:
        async with db.transaction(tenant_id) as session:
            total += (
                await session.execute(select(func.count()).select_from(AuditLogEntry))
            ).scalar_one()
    return total


# ---- the in-process bus, crashed and rebuilt --------------------------------------------------
@contextlib.asynccontextmanager
async def memory_pipeline(
    db: Database, settings: Settings
) -> AsyncIterator[tuple[MemoryBus, ConsumerRunner, asyncio.Task[None]]]:
    bus = MemoryBus()
    await bus.start()
    runner = ConsumerRunner(db, bus, [EffectConsumer(), AuditLogConsumer()], settings)
    await runner.start()
    relay_task = asyncio.create_task(OutboxRelay(db, bus, settings).run())
    try:
        yield bus, runner, relay_task
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await bus.close()


async def test_memory_bus_crash_mid_stream_loses_nothing_and_doubles_nothing(
    database: Database, settings: Settings
) -> None:
    tenants = [await make_tenant(database) for _ in range(TENANTS)]
    crashed = asyncio.Event()
    state: dict[str, object] = {}

    async def on_progress(recorded: int) -> None:
        if recorded == 400 and not crashed.is_set():
            await wait_for(lambda: _at_least(effect_counts(database), 50))
            # The crash: relay and bus go away mid-delivery; their queues with them.
            first = state.pop("pipeline")
            await first.__aexit__(None, None, None)  # type: ignore[attr-defined]
            crashed.set()
        if recorded == 600:
            second = memory_pipeline(database, settings)
            await second.__aenter__()
            state["pipeline"] = second

    first = memory_pipeline(database, settings)
    await first.__aenter__()
    state["pipeline"] = first
    try:
        await produce(database, tenants, on_progress)
        assert crashed.is_set()
        processed_at_crash = await effect_counts(database)
        assert processed_at_crash[0] < TOTAL
        await assert_exactly_once(database, tenants)
    finally:
        pipeline = state.pop("pipeline", None)
        if pipeline is not None:
            await pipeline.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def _at_least(value: Awaitable[tuple[int, int]], count: int) -> bool:
    return (await value)[0] >= count


# ---- a real nats-server, killed and restarted -------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """A private ``nats-server -js`` on a free port with its own store directory."""

    def __init__(self, store: Path) -> None:
        assert NATS_SERVER is not None
        binary = NATS_SERVER
        self.port = free_port()
        self.command = [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(store)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.025)
        raise RuntimeError("nats-server did not start")

    async def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)
        self.process = None


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsServer]:
    if NATS_SERVER is None:
        if REQUIRED:
            pytest.fail("nats-server is not installed (AIAAS_TEST_SERVICES=required)")
        pytest.skip("nats-server is not installed")
    server = NatsServer(tmp_path / "jetstream")
    await server.start()
    yield server
    await server.kill()


async def test_nats_restart_mid_stream_loses_nothing_and_doubles_nothing(
    database: Database, settings: Settings, private_nats: NatsServer
) -> None:
    settings.events.ack_wait_seconds = 3.0
    tenants = [await make_tenant(database) for _ in range(TENANTS)]
    bus = await start_nats_bus(private_nats.url, settings, publish_deadline=2.0)
    runner = ConsumerRunner(database, bus, [EffectConsumer(), AuditLogConsumer()], settings)
    await runner.start()
    relay_task = asyncio.create_task(OutboxRelay(database, bus, settings).run())
    restarted = asyncio.Event()

    async def on_progress(recorded: int) -> None:
        if recorded == 400:
            await wait_for(lambda: _at_least(effect_counts(database), 50))
            await private_nats.kill()
        if recorded == 600:
            await private_nats.start()
            restarted.set()

    try:
        await produce(database, tenants, on_progress)
        assert restarted.is_set()
        await assert_exactly_once(database, tenants)
        from aiaas.backends.bus.nats import NatsBus

        assert isinstance(bus, NatsBus)
        info = await bus.js.stream_info(settings.events.stream)
        assert info.state.messages == TOTAL  # JetStream dropped every re-published copy
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await runner.stop()
        await bus.close()
