"""The bus contract, run against the in-process bus and NATS JetStream alike."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from tests.services import NATS_URL, need_services

from aiaas.backends.bus import Bus, BusUnavailable, Delivery, Reject, Retry, Subscription
from aiaas.backends.bus.memory import MemoryBus

ACK_WAIT = 10.0


@pytest.fixture(params=["memory", "nats"])
async def bus_under_test(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, str]]:
    """A started bus and a fresh subject namespace for it."""
    namespace = "t" + secrets.token_hex(5)
    if request.param == "memory":
        memory = MemoryBus()
        await memory.start()
        yield memory, namespace
        await memory.close()
        return
    await need_services("nats")
    from aiaas.backends.bus.nats import NatsBus

    nats_bus = NatsBus(
        NATS_URL, stream=namespace.upper(), namespace=namespace, start_deadline=2.0, fetch_wait=0.5
    )
    await nats_bus.start()
    try:
        yield nats_bus, namespace
    finally:
        for subscription in list(nats_bus._subscriptions):
            await subscription.stop()
        await nats_bus.delete_stream()
        await nats_bus.close()


class Recorder:
    """A handler that records deliveries and fails as told."""

    def __init__(self, *, fail: set[str] | None = None, reject: set[str] | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self.dead: list[tuple[Delivery, BaseException]] = []
        self.fail = fail or set()
        self.reject = reject or set()
        self.changed = asyncio.Event()

    async def handle(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.changed.set()
        if delivery.data.decode() in self.reject:
            raise Reject("cannot ever work")
        if delivery.data.decode() in self.fail:
            raise Retry(0.01) from ValueError(f"bad {delivery.data.decode()}")

    async def dead_letter(self, delivery: Delivery, error: BaseException) -> None:
        self.dead.append((delivery, error))
        self.changed.set()

    def bodies(self) -> list[str]:
        return [d.data.decode() for d in self.deliveries]

    async def until(self, condition: Callable[[], bool], within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def subscribe(
    bus: Bus, recorder: Recorder, namespace: str, *, durable: str = "worker", max_deliver: int = 3
) -> Subscription:
    return await bus.subscribe(
        durable,
        f"{namespace}.>",
        recorder.handle,
        max_deliver=max_deliver,
        ack_wait=ACK_WAIT,
        on_dead_letter=recorder.dead_letter,
    )


async def test_delivers_with_id_subject_headers_and_settles(
    bus_under_test: tuple[Bus, str],
) -> None:
    bus, ns = bus_under_test
    recorder = Recorder()
    await subscribe(bus, recorder, ns)
    settled: list[str] = []
    await bus.publish(
        f"{ns}.a.b.c",
        b"one",
        msg_id="m-1",
        headers={"X-K": "v"},
        on_settled=lambda: settled.append("m-1"),
    )
    await recorder.until(lambda: len(recorder.deliveries) == 1)
    delivery = recorder.deliveries[0]
    assert (delivery.subject, delivery.data, delivery.msg_id, delivery.attempt) == (
        f"{ns}.a.b.c",
        b"one",
        "m-1",
        1,
    )
    assert delivery.headers["X-K"] == "v"
    await recorder.until(lambda: settled == ["m-1"])


async def test_same_msg_id_within_the_window_is_delivered_once(
    bus_under_test: tuple[Bus, str],
) -> None:
    bus, ns = bus_under_test
    recorder = Recorder()
    await subscribe(bus, recorder, ns)
    for _ in range(3):
        await bus.publish(f"{ns}.x", b"dup", msg_id="same")
    await bus.publish(f"{ns}.x", b"last", msg_id="other")
    await recorder.until(lambda: "last" in recorder.bodies())
    assert recorder.bodies().count("dup") == 1


async def test_failure_is_redelivered_until_max_deliver_then_dead_lettered_without_blocking(
    bus_under_test: tuple[Bus, str],
) -> None:
    bus, ns = bus_under_test
    recorder = Recorder(fail={"poison"})
    await subscribe(bus, recorder, ns, max_deliver=3)
    await bus.publish(f"{ns}.x", b"poison", msg_id="p")
    for i in range(5):
        await bus.publish(f"{ns}.x", f"ok-{i}".encode(), msg_id=f"ok-{i}")
    await recorder.until(lambda: len(recorder.dead) == 1 and len(recorder.bodies()) >= 8)
    poison = [d for d in recorder.deliveries if d.data == b"poison"]
    assert [d.attempt for d in poison] == [1, 2, 3]
    assert sorted(b for b in recorder.bodies() if b.startswith("ok")) == [
        f"ok-{i}" for i in range(5)
    ]
    dead_delivery, error = recorder.dead[0]
    assert dead_delivery.data == b"poison"
    assert dead_delivery.attempt == 3
    assert isinstance(error, Retry)
    assert isinstance(error.__cause__, ValueError)
    await asyncio.sleep(0.3)  # nothing comes back after the dead letter
    assert len([d for d in recorder.deliveries if d.data == b"poison"]) == 3


async def test_reject_dead_letters_at_once(bus_under_test: tuple[Bus, str]) -> None:
    bus, ns = bus_under_test
    recorder = Recorder(reject={"garbage"})
    await subscribe(bus, recorder, ns, max_deliver=5)
    await bus.publish(f"{ns}.x", b"garbage", msg_id="g")
    await recorder.until(lambda: len(recorder.dead) == 1)
    assert [d.attempt for d in recorder.deliveries] == [1]
    assert isinstance(recorder.dead[0][1], Reject)


async def test_failing_dead_letter_handler_gets_the_message_back(
    bus_under_test: tuple[Bus, str],
) -> None:
    bus, ns = bus_under_test
    recorder = Recorder(reject={"r"})
    calls: list[int] = []

    async def flaky_dead_letter(delivery: Delivery, error: BaseException) -> None:
        calls.append(delivery.attempt)
        if len(calls) == 1:
            raise RuntimeError("dead-letter store down")
        await recorder.dead_letter(delivery, error)

    await bus.subscribe(
        "worker",
        f"{ns}.>",
        recorder.handle,
        max_deliver=2,
        ack_wait=ACK_WAIT,
        on_dead_letter=flaky_dead_letter,
    )
    await bus.publish(f"{ns}.x", b"r", msg_id="r")
    await recorder.until(lambda: len(recorder.dead) == 1)
    assert len(calls) == 2


async def test_filters_route_to_matching_durables_only(bus_under_test: tuple[Bus, str]) -> None:
    bus, ns = bus_under_test
    users, everything = Recorder(), Recorder()
    await bus.subscribe(
        "users",
        f"{ns}.tenancy.user.*",
        users.handle,
        max_deliver=1,
        ack_wait=ACK_WAIT,
        on_dead_letter=users.dead_letter,
    )
    await bus.subscribe(
        "all",
        f"{ns}.*.*.*",
        everything.handle,
        max_deliver=1,
        ack_wait=ACK_WAIT,
        on_dead_letter=everything.dead_letter,
    )
    await bus.publish(f"{ns}.tenancy.user.created", b"u", msg_id="1")
    await bus.publish(f"{ns}.tenancy.api_key.created", b"k", msg_id="2")
    await bus.publish(f"{ns}.dlq.audit_log", b"d", msg_id="3")
    await everything.until(lambda: sorted(everything.bodies()) == ["k", "u"])
    await users.until(lambda: users.bodies() == ["u"])
    await asyncio.sleep(0.2)
    assert users.bodies() == ["u"]
    assert sorted(everything.bodies()) == ["k", "u"]


async def test_pending_counts_unacknowledged_and_a_stopped_durable_keeps_its_messages(
    bus_under_test: tuple[Bus, str],
) -> None:
    bus, ns = bus_under_test
    gate = asyncio.Event()
    first = Recorder()

    async def blocked(delivery: Delivery) -> None:
        await first.handle(delivery)
        await gate.wait()

    subscription = await bus.subscribe(
        "worker",
        f"{ns}.>",
        blocked,
        max_deliver=3,
        ack_wait=ACK_WAIT,
        on_dead_letter=first.dead_letter,
    )
    for i in range(3):
        await bus.publish(f"{ns}.x", f"m{i}".encode(), msg_id=f"m{i}")
    await first.until(lambda: len(first.deliveries) == 1)
    assert await subscription.pending() == 3
    await subscription.stop()
    await bus.publish(f"{ns}.x", b"m3", msg_id="m3")

    second = Recorder()
    resumed = await subscribe(bus, second, ns)
    await second.until(lambda: sorted(set(second.bodies())) == ["m0", "m1", "m2", "m3"])

    await wait_until_drained(resumed)


async def wait_until_drained(subscription: Subscription, within: float = 15.0) -> None:
    """NATS reports acks with a small delay; poll the consumer's pending count."""
    deadline = asyncio.get_running_loop().time() + within
    pending = await subscription.pending()
    while pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        pending = await subscription.pending()
    assert pending == 0


async def test_closed_bus_refuses_and_ping_says_so(bus_under_test: tuple[Bus, str]) -> None:
    bus, ns = bus_under_test
    await bus.ping()
    await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.ping()
    with pytest.raises(BusUnavailable):
        await bus.publish(f"{ns}.x", b"late", msg_id="late")
    await bus.start()  # the fixture cleans up a started bus
