"""The outbox relay: publishes events stored with the appeals to Kafka, then marks them sent.

Runs inside the appeals service. A write wakes it at once; a slow poll covers events left by a
crash or another replica. While the broker is unreachable intake keeps storing appeals and
their events wait in the outbox; the relay retries with capped backoff and publishes them, in
order per appeal, when the broker is back. A crash between publishing and marking publishes an
event twice at worst — consumers are idempotent on event_id, so delivery is at least once and
the effect exactly once.

Some brokers acknowledge a record before it is on disk (the embedded noida-db writes about
once a second). For them ``durable_after_s`` keeps an acknowledged event in the outbox that
much longer; if the broker connection fails meanwhile, every event still in the outbox is
published again, so a broker crash cannot lose an event the relay had already let go of.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.appeals.adapters.store import AppealStore
from shared.tasks import cancel_and_wait
from shared.topics import APPEAL_EVENTS

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)


class OutboxRelay:
    """Moves pending events from MongoDB to ``appeals.events``."""

    def __init__(
        self,
        store: AppealStore,
        make_producer: Any,
        *,
        batch: int = 200,
        poll_seconds: float = 1.0,
        retry_max_seconds: float = 5.0,
        durable_after_s: float = 0.0,
    ) -> None:
        self.store = store
        self._make_producer = make_producer
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.retry_max_seconds = retry_max_seconds
        self.durable_after_s = durable_after_s
        # event id -> when the broker acknowledged it; kept until durable_after_s has passed.
        self._acked: dict[str, float] = {}
        # Marking (event log, outbox pull, flag: three fsynced writes) runs beside publishing, not
        # in its path: at 3 appeals/s an appeal stored while a cycle was marking waited for those
        # writes (stored -> published p99 343 ms, BENCHMARKS.md). Events being marked stay in
        # ``_acked`` until the marking succeeds; events marked lately (a pending query read
        # before the marking committed may still list them) are remembered here. Neither is
        # published again.
        self._marked: dict[str, float] = {}
        self._mark_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.broker_connected = False

    def forget(self, event_id: str) -> None:
        """Publish ``event_id`` again when it is next in the outbox, though it was published
        lately: the routing watchdog puts a stalled appeal's ``appeal.received`` back in the
        outbox under its own id, and the memory of marked events (a minute) would otherwise
        hold the re-send back for that long (docs/faults.md, finding 11)."""
        self._acked.pop(event_id, None)
        self._marked.pop(event_id, None)

    def wake(self) -> None:
        """Tell the relay that new events are waiting."""
        self._wake.set()

    def start(self) -> None:
        """Run the relay loop in the background."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop publishing and marking; what is not marked yet stays in the outbox."""
        for task in (self._task, self._mark_task):
            await cancel_and_wait(task)
        await self._close_producer()

    async def _close_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        self.broker_connected = False

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._make_producer()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.broker_connected = True
        return self._producer

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            # Cleared before the cycle, not after: a write (or a finished marking) that wakes
            # the relay while a cycle runs must not be lost, or its events wait for the poll.
            self._wake.clear()
            try:
                moved = await self.publish_pending()
                backoff = 0.2
                if moved:
                    continue  # there may be more: drain before waiting
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("outbox relay: broker unavailable, will retry: %s", exc)
                self._acked.clear()  # not yet durable: publish them again after reconnecting
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max_seconds)
                continue
            except Exception:
                log.exception("outbox relay: unexpected error; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max_seconds)
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def publish_pending(self) -> int:
        """Publish one batch of pending events and mark the durable ones; return the count."""
        # Appeals whose events wait out the broker's durability delay come back in every query
        # until they are marked; ask for that many more so newer appeals are not held behind.
        waiting = len(self._acked)
        docs = await self.store.pending_outbox(self.batch + waiting)
        if not docs:
            return 0
        # Forget marks older than _MARKED_MEMORY_S: the dict is in marking order, so only its
        # head needs looking at, not every event marked in the last minute on every cycle.
        now = time.monotonic()
        while self._marked:
            oldest, at = next(iter(self._marked.items()))
            if now - at <= _MARKED_MEMORY_S:
                break
            del self._marked[oldest]
        producer = await self._ensure_producer()
        sends: list[tuple[str, asyncio.Future[Any]]] = []
        batches: list[tuple[str, list[dict[str, Any]]]] = []
        for doc in docs:
            pending_ids = doc.get("outbox") or []
            by_id = {e["event_id"]: e for e in doc.get("events", [])}
            events = [by_id[i] for i in pending_ids if i in by_id]
            batches.append((doc["_id"], events))
            for event in events:
                if event["event_id"] in self._acked or event["event_id"] in self._marked:
                    continue
                # send() only enqueues; awaiting the futures below waits for acks=all. Events of
                # one appeal share a key, hence a partition, and are enqueued in order.
                future = await producer.send(
                    APPEAL_EVENTS,
                    key=doc["_id"].encode(),
                    value=orjson.dumps(event, default=_json_default),
                )
                sends.append((event["event_id"], future))
        for event_id, future in sends:
            await future
            self._acked[event_id] = time.monotonic()
        self.published += len(sends)
        if self._mark_task is not None and self._mark_task.done():
            self._mark_task = None
        if self._mark_task is not None:
            return len(sends)  # one marking at a time; the next cycle takes what is left
        now = time.monotonic()
        durable_batch = []
        for appeal_id, events in batches:
            durable = [
                e
                for e in events
                if now - self._acked.get(e["event_id"], now + 1) >= self.durable_after_s
            ]
            if durable:
                durable_batch.append((appeal_id, durable))
        if not durable_batch:
            return len(sends)
        ids = {e["event_id"] for _, durable in durable_batch for e in durable}
        self._mark_task = asyncio.create_task(self._mark(durable_batch, ids), name="outbox-mark")
        return len(sends) + len(ids)

    async def _mark(self, batch: list[tuple[str, list[dict[str, Any]]]], ids: set[str]) -> None:
        """Record published, durable events (event log, outbox pull) beside the publishing."""
        try:
            await self.store.mark_published(batch)
        except Exception:
            # Still acknowledged and durable: the next cycle marks them again.
            log.exception("outbox relay: marking published events failed; will retry")
            return
        now = time.monotonic()
        for event_id in ids:
            self._acked.pop(event_id, None)
            self._marked[event_id] = now
        self.wake()  # what waited behind this marking (the outbox query's limit) can go now


# How long a marked event is remembered as marked: far longer than a pending query takes.
_MARKED_MEMORY_S = 60.0


def _json_default(value: Any) -> Any:
    # Events are stored with real datetimes; on the wire they are ISO-8601 UTC strings.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
