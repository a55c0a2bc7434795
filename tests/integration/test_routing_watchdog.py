"""The routing watchdog against the real MongoDB-protocol server.

An appeal stored by the real intake code, whose events the relay has published (marked in the
real store), is left ``received``: nobody routed it. The watchdog must put its stored
``appeal.received`` back in the outbox once, and not again within the stall; an appeal that
moved on, or one still in the outbox, must be left alone. The real relay on the real broker
must then publish the re-sent event at once, though it published the same event id moments
before (docs/faults.md, finding 11). The whole loop runs in tests/faults.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import TopicPartition

from services.appeals.adapters.outbox_relay import OutboxRelay
from services.appeals.adapters.queue_store import QueueStore
from services.appeals.adapters.store import AppealStore
from services.appeals.domain.intake import AppealCreate
from services.appeals.service_layer.intake import submit_appeal
from services.appeals.service_layer.routing_watchdog import RoutingWatchdog
from shared.city import City, load_city
from shared.embedded import BrokerProcess, DatabaseProcess
from shared.events import Actor
from shared.kafka import BROKER_PROFILES, make_consumer, make_producer
from shared.mongo import make_client
from shared.topics import ALL_TOPICS, APPEAL_EVENTS
from tests.integration.conftest import reference_city

RESIDENT = Actor(kind="resident", id="web")


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(reference_city() / "jurisdiction.yaml", reference_city() / "matters.yaml")


@pytest.fixture
async def stores(mongo: DatabaseProcess) -> AsyncIterator[tuple[AppealStore, QueueStore]]:
    client = make_client(mongo.url)
    store = AppealStore(client, f"appeals_watchdog_{uuid.uuid4().hex[:8]}")
    queues = QueueStore(store.appeals)
    await store.create_indexes()
    await queues.create_indexes()
    try:
        yield store, queues
    finally:
        await client.drop_database(store.db.name)
        await client.close()


async def published_appeal(store: AppealStore, city: City, text: str) -> str:
    doc, _, created = await submit_appeal(
        AppealCreate(text=text, address="华山路120号"),
        store=store,
        city=city,
        channel="web",
        actor=RESIDENT,
        idempotency_key=None,
    )
    assert created
    # What the relay does once the broker has the events: log them, empty the outbox.
    stored = await store.get(doc["_id"])
    assert stored is not None
    await store.mark_published([(doc["_id"], stored["events"])])
    return str(doc["_id"])


async def test_a_stalled_appeal_goes_back_to_the_outbox_once_per_stall(
    stores: tuple[AppealStore, QueueStore], city: City
) -> None:
    store, queues = stores
    stalled = await published_appeal(store, city, "华山路120号门口路灯坏了")
    moved_on = await published_appeal(store, city, "华山路120号门口井盖缺失")
    await store.appeals.update_one({"_id": moved_on}, {"$set": {"state": "triage"}})
    counted: list[int] = []
    watchdog = RoutingWatchdog(
        store=store, queues=queues, stall_seconds=60, on_resent=counted.append
    )

    assert await watchdog.check_once(datetime.now(UTC)) == []  # too young yet

    later = datetime.now(UTC) + timedelta(seconds=61)
    assert await watchdog.check_once(later) == [stalled]
    doc = await store.get(stalled)
    assert doc is not None
    received_id = next(e["event_id"] for e in doc["events"] if e["type"] == "appeal.received")
    assert doc["outbox"] == [received_id]
    assert doc["outbox_pending"] is True
    assert doc["routing_resends"] == 1
    assert counted == [1]
    # What the relay would publish now is the appeal's own received event, same id.
    assert [d["_id"] for d in await store.pending_outbox(10)] == [stalled]

    # Still in the outbox: the relay's business, not resent twice.
    assert await watchdog.check_once(later + timedelta(seconds=61)) == []
    await store.mark_published(
        [(stalled, [e for e in doc["events"] if e["event_id"] == received_id])]
    )
    # Out again, but resent less than a stall ago: waits.
    assert await watchdog.check_once(later + timedelta(seconds=30)) == []
    # A stall after the last resend: resent again, counted again.
    assert await watchdog.check_once(later + timedelta(seconds=121)) == [stalled]
    again = await store.get(stalled)
    assert again is not None and again["routing_resends"] == 2
    assert counted == [1, 1]
    assert watchdog.resent == 2


async def copies_on_the_broker(bootstrap: str, profile: str, event_id: str) -> int:
    """How many records on appeals.events carry ``event_id`` (read from the log start)."""
    consumer = make_consumer(bootstrap=bootstrap, profile=profile, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(APPEAL_EVENTS, p) for p in range(ALL_TOPICS[APPEAL_EVENTS])]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        found = 0
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            found += sum(event_id.encode() in r.value for rs in batches.values() for r in rs)
        return found
    finally:
        await consumer.stop()


async def test_the_relay_publishes_a_resent_event_at_once(
    stores: tuple[AppealStore, QueueStore],
    city: City,
    broker: BrokerProcess,
    broker_profile: str,
) -> None:
    """The relay remembers events it published for a minute, so as not to publish them twice;
    the watchdog's re-send must not wait out that memory."""
    store, queues = stores
    relay = OutboxRelay(
        store,
        lambda: make_producer(broker.bootstrap, broker_profile),
        poll_seconds=0.2,
        durable_after_s=BROKER_PROFILES[broker_profile].durable_after_s,
    )
    store.on_events.append(relay.wake)
    relay.start()
    try:
        doc, _, _ = await submit_appeal(
            AppealCreate(text="华山路120号门口路灯坏了", address="华山路120号"),
            store=store,
            city=city,
            channel="web",
            actor=RESIDENT,
            idempotency_key=None,
        )
        appeal_id = str(doc["_id"])
        stored = await store.get(appeal_id)
        assert stored is not None
        received_id = next(
            e["event_id"] for e in stored["events"] if e["type"] == "appeal.received"
        )
        deadline = time.monotonic() + 30
        while (await store.get(appeal_id) or {}).get("outbox"):  # published and marked
            assert time.monotonic() < deadline, "the relay never published the appeal"
            await asyncio.sleep(0.2)
        assert await copies_on_the_broker(broker.bootstrap, broker_profile, received_id) == 1

        watchdog = RoutingWatchdog(
            store=store, queues=queues, stall_seconds=60, republish=relay.forget
        )
        later = datetime.now(UTC) + timedelta(seconds=61)
        assert await watchdog.check_once(later) == [appeal_id]
        started = time.monotonic()
        while (await store.get(appeal_id) or {}).get("outbox"):
            assert time.monotonic() - started < 15, "the re-sent event waited in the outbox"
            await asyncio.sleep(0.2)
        assert await copies_on_the_broker(broker.bootstrap, broker_profile, received_id) == 2
    finally:
        await relay.stop()
