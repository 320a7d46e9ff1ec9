"""NATS JetStream bus: one file-backed stream, ``Nats-Msg-Id`` dedupe, durable pull consumers.

* ``start()`` connects (reconnecting forever once connected) and creates or updates the stream:
  subjects ``<namespace>.>``, file storage, a two-minute duplicate window.
* ``publish()`` waits for JetStream's PubAck and retries on timeouts / no responders while a server
  restarts; a re-publish with the same ``msg_id`` inside the window is dropped by the server.
* Consumers are durable pull consumers with explicit acks. The delivery bound is enforced here
  (``metadata.num_delivered``), not with the server's ``max_deliver``: a message whose dead-letter
  handler failed must come back rather than be parked forever by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from aiaas.backends.bus import (
    BusUnavailable,
    DeadLetterHandler,
    Delivery,
    Handler,
    Reject,
    Retry,
    SettledCallback,
)
from aiaas.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
DUPLICATE_WINDOW_SECONDS = 120.0
STREAM_MAX_AGE_SECONDS = 7 * 86_400.0
"""Events stay in the stream for a week, so a new or lagging consumer can catch up."""

_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
)


class NatsSubscription:
    """A durable pull consumer and the task that fetches from it."""

    def __init__(
        self,
        bus: NatsBus,
        durable: str,
        psub: JetStreamContext.PullSubscription,
        handler: Handler,
        *,
        max_deliver: int,
        ack_wait: float,
        on_dead_letter: DeadLetterHandler,
    ) -> None:
        self._bus = bus
        self.durable = durable
        self._psub = psub
        self._handler = handler
        self._max_deliver = max(1, max_deliver)
        self._ack_wait = ack_wait
        self._on_dead_letter = on_dead_letter
        self._task = asyncio.create_task(self._run(), name=f"bus-consumer-{durable}")

    async def stop(self) -> None:
        """Stop fetching; unacknowledged messages are redelivered to the next subscriber."""
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            await self._psub.unsubscribe()
        self._bus._subscriptions.discard(self)

    async def pending(self) -> int:
        """Messages not yet delivered plus delivered but unacknowledged (from consumer info)."""
        info = await self._bus._call(self._bus.js.consumer_info(self._bus.stream, self.durable))
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                messages = await self._psub.fetch(
                    self._bus.fetch_batch, timeout=self._bus.fetch_wait
                )
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Disconnected or the server is restarting: the client reconnects by itself.
                log.debug("fetch for %s failed: %r", self.durable, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            for index, message in enumerate(messages):
                try:
                    await self._process(message)
                except asyncio.CancelledError:
                    # Hand back what this worker holds: redelivered now, not after ack_wait.
                    for unsettled in messages[index:]:
                        await self._settle(unsettled.nak())
                    raise

    async def _process(self, message: Msg) -> None:
        try:
            attempt = int(message.metadata.num_delivered)
        except Exception:  # not a JetStream message; nothing to settle
            return
        headers = dict(message.headers or {})
        delivery = Delivery(
            subject=message.subject,
            data=message.data,
            msg_id=headers.get(MSG_ID_HEADER)
            or f"{self._bus.stream}:{message.metadata.sequence.stream}",
            attempt=attempt,
            headers=headers,
        )
        try:
            async with asyncio.timeout(self._ack_wait):
                await self._handler(delivery)
        except Reject as exc:
            await self._dead_letter(message, delivery, exc)
        except Exception as exc:
            if attempt >= self._max_deliver:
                await self._dead_letter(message, delivery, exc)
            else:
                await self._settle(message.nak(delay=exc.delay if isinstance(exc, Retry) else None))
        else:
            await self._settle(message.ack())

    async def _dead_letter(self, message: Msg, delivery: Delivery, error: BaseException) -> None:
        try:
            await self._on_dead_letter(delivery, error)
        except Exception:
            log.exception(
                "dead-letter handler of %s failed; the message comes back later", self.durable
            )
            await self._settle(message.nak(delay=1.0))
        else:
            await self._settle(message.term())

    async def _settle(self, ack: Any) -> None:
        # A lost ack only means a redelivery, which consumers absorb (idempotent inbox).
        try:
            await ack
        except Exception as exc:
            log.debug("ack for %s not sent: %r", self.durable, exc)


class NatsBus:
    """The production bus on NATS JetStream."""

    kind = "nats"

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        namespace: str,
        connect_timeout: float = 2.0,
        start_deadline: float = 30.0,
        request_timeout: float = 2.0,
        publish_deadline: float = 5.0,
        fetch_batch: int = 64,
        fetch_wait: float = 2.0,
        client_name: str = "aiaas",
    ) -> None:
        self.servers = [u.strip() for u in url.split(",") if u.strip()]
        self.stream = stream
        self.namespace = namespace
        self.connect_timeout = connect_timeout
        self.start_deadline = start_deadline
        self.request_timeout = request_timeout
        self.publish_deadline = publish_deadline
        self.fetch_batch = fetch_batch
        self.fetch_wait = fetch_wait
        self.client_name = client_name
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: set[NatsSubscription] = set()
        self._closed = False

    @property
    def js(self) -> JetStreamContext:
        if self._js is None or self._closed:
            raise BusUnavailable("the NATS bus is not started")
        return self._js

    async def start(self) -> None:
        """Connect (retrying until ``start_deadline``) and make sure the stream exists."""
        deadline = time.monotonic() + self.start_deadline
        delay = 0.1
        while True:
            try:
                self._nc = await nats.connect(
                    servers=self.servers,
                    name=self.client_name,
                    connect_timeout=self.connect_timeout,
                    reconnect_time_wait=0.25,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                break
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    raise BusUnavailable(
                        f"cannot connect to NATS at {self.servers}: {exc!r}"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._closed = False
        self._js = self._nc.jetstream(timeout=self.request_timeout)
        await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.namespace}.>"],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_age=STREAM_MAX_AGE_SECONDS,
        )
        try:
            info = await self._call(self.js.stream_info(self.stream))
        except nats.js.errors.NotFoundError:
            await self._call(self.js.add_stream(config))
            return
        current = info.config
        if (
            sorted(current.subjects or []) != sorted(config.subjects or [])
            or current.duplicate_window != config.duplicate_window
        ):
            await self._call(self.js.update_stream(config))

    async def _call(self, request: Any) -> Any:
        """Await a JetStream API request, turning connection trouble into ``BusUnavailable``."""
        try:
            return await request
        except _TRANSIENT as exc:
            raise BusUnavailable(f"NATS did not answer: {exc!r}") from exc

    async def close(self) -> None:
        """Stop every subscription and close the connection."""
        for subscription in list(self._subscriptions):
            await subscription.stop()
        nc, self._nc = self._nc, None
        self._closed = True
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()

    async def ping(self) -> None:
        """Round trip to the server; ``BusUnavailable`` when it does not answer in time."""
        if self._nc is None or self._closed or not self._nc.is_connected:
            raise BusUnavailable("not connected to NATS")
        try:
            await self._nc.flush(timeout=self.request_timeout)  # type: ignore[arg-type]
        except Exception as exc:
            raise BusUnavailable(f"NATS did not answer: {exc!r}") from exc

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        msg_id: str,
        headers: dict[str, str] | None = None,
        on_settled: SettledCallback | None = None,
    ) -> None:
        """Publish and wait for the PubAck; retry transient failures until ``publish_deadline``."""
        all_headers = {**(headers or {}), MSG_ID_HEADER: msg_id}
        deadline = time.monotonic() + self.publish_deadline
        delay = 0.05
        while True:
            js = self.js
            try:
                await js.publish(
                    subject,
                    data,
                    timeout=self.request_timeout,
                    stream=self.stream,
                    headers=all_headers,
                )
                break
            except _TRANSIENT as exc:
                if self._closed or time.monotonic() + delay > deadline:
                    raise BusUnavailable(f"NATS did not acknowledge {subject}: {exc!r}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            except nats.js.errors.APIError as exc:
                raise BusUnavailable(f"JetStream refused {subject}: {exc}") from exc
        if on_settled is not None:
            on_settled()

    async def subscribe(
        self,
        durable: str,
        subject_filter: str,
        handler: Handler,
        *,
        max_deliver: int,
        ack_wait: float,
        on_dead_letter: DeadLetterHandler,
    ) -> NatsSubscription:
        """Create or update the durable pull consumer ``durable`` and start fetching from it."""
        config = ConsumerConfig(
            durable_name=durable,
            name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,
            filter_subject=subject_filter,
            max_ack_pending=max(1_000, self.fetch_batch * 4),
        )
        try:
            info = await self._call(self.js.consumer_info(self.stream, durable))
        except nats.js.errors.NotFoundError:
            await self._call(self.js.add_consumer(self.stream, config=config))
        else:
            if info.config.filter_subject != subject_filter or info.config.ack_wait != ack_wait:
                try:
                    await self._call(self.js.add_consumer(self.stream, config=config))
                except nats.js.errors.APIError as exc:
                    # Older servers cannot change some settings in place; keep the consumer.
                    log.warning("consumer %s keeps its old settings: %s", durable, exc)
        psub = await self.js.pull_subscribe_bind(durable=durable, stream=self.stream)
        subscription = NatsSubscription(
            self,
            durable,
            psub,
            handler,
            max_deliver=max_deliver,
            ack_wait=ack_wait,
            on_dead_letter=on_dead_letter,
        )
        self._subscriptions.add(subscription)
        return subscription

    async def delete_stream(self) -> None:
        """Remove the stream and its consumers (tests and resets; never called by the platform)."""
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._call(self.js.delete_stream(self.stream))

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats: %r", exc)

    async def _on_disconnected(self) -> None:
        log.warning("nats: disconnected; reconnecting")

    async def _on_reconnected(self) -> None:
        log.info("nats: reconnected")
