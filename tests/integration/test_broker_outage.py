"""With the broker down, intake still stores appeals; when it returns, each is published once.

Uses a broker of its own (stopped and restarted here) so the session's other tests keep theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from kafka import KafkaConsumer
from pymongo import MongoClient

from services.cli.stack import service_env, start_service
from shared.embedded import BrokerProcess, DatabaseProcess, ManagedProcess, free_port, start_broker
from shared.kafka import ensure_topics
from shared.topics import APPEAL_EVENTS
from tests.integration.conftest import poll, reference_city


@pytest.fixture
def own_broker(infra_dir: Path, broker_profile: str) -> Iterator[BrokerProcess]:
    process = start_broker(broker_profile, data_dir=infra_dir / "outage-broker")  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(ensure_topics(process.bootstrap))
    finally:
        loop.close()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def appeals_only(
    own_broker: BrokerProcess, mongo: DatabaseProcess, infra_dir: Path, broker_profile: str
) -> Iterator[tuple[ManagedProcess, str]]:
    port = free_port()
    env = service_env(
        bootstrap=own_broker.bootstrap,
        broker_profile=broker_profile,
        mongo_url=mongo.url,
        data_dir=infra_dir / "outage",
        ports={"appeals": port},
        extra={
            "APPEALS_MONGO_DB": "appeals_outage",
            "APPEALS_JURISDICTION_FILE": str(reference_city() / "jurisdiction.yaml"),
            "APPEALS_MATTERS_FILE": str(reference_city() / "matters.yaml"),
        },
    )
    process = start_service("appeals", env=env, port=port, data_dir=infra_dir / "outage")
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def test_appeals_taken_while_the_broker_is_down_are_published_once_when_it_returns(
    own_broker: BrokerProcess,
    appeals_only: tuple[ManagedProcess, str],
    mongo: DatabaseProcess,
) -> None:
    if not own_broker.persistent:
        pytest.fail(
            f"{own_broker.kind} keeps no data across a restart; this test needs one that does"
        )
    _process, base = appeals_only
    own_broker.stop()
    ids: list[str] = []
    with httpx.Client(timeout=10) as http:
        for n in range(20):
            response = http.post(
                f"{base}/api/v1/appeals",
                json={"text": f"路灯坏了第{n}盏", "address": f"华山路{n + 1}号"},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    db = MongoClient(mongo.url)["appeals_outage"]
    try:
        stored = list(db.appeals.find({"_id": {"$in": ids}}, {"outbox": 1}))
        assert len(stored) == len(ids)
        assert all(doc["outbox"] for doc in stored), "nothing can be published while it is down"

        own_broker.start()
        own_broker.wait_ready(30)

        def drained() -> bool:
            pending = db.appeals.count_documents({"_id": {"$in": ids}, "outbox_pending": True})
            return pending == 0

        poll(drained, timeout=60, what="the outbox to drain after the broker returned")
        assert db.event_log.count_documents({"appeal_id": {"$in": ids}}) == len(ids)
    finally:
        db.client.close()

    consumer = KafkaConsumer(
        APPEAL_EVENTS,
        bootstrap_servers=own_broker.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    counts: dict[str, int] = {}
    try:

        def all_read() -> bool:
            for message in consumer:
                event = orjson.loads(message.value)
                counts[event["appeal_id"]] = counts.get(event["appeal_id"], 0) + 1
            return set(ids) <= set(counts)

        poll(all_read, timeout=30, what="every appeal's event on the broker")
    finally:
        consumer.close()
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1), "lost or duplicated"
