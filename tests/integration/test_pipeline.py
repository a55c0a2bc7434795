"""Issue 2's definition of done: appeals flow through the real broker, database and workers."""

from __future__ import annotations

import uuid

import httpx
import orjson
from kafka import KafkaConsumer
from pymongo import MongoClient

from shared.embedded import BrokerProcess, DatabaseProcess
from shared.topics import APPEAL_EVENTS
from tests.integration.conftest import RunningServices, metric_value, poll, staff_login


def read_events(bootstrap: str, appeal_ids: set[str], types: set[str], timeout: float = 30):
    """Read appeals.events from the start with a plain kafka-python consumer."""
    consumer = KafkaConsumer(
        APPEAL_EVENTS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    seen: dict[tuple[str, str], int] = {}
    try:

        def collect() -> bool:
            for message in consumer:
                event = orjson.loads(message.value)
                if event["appeal_id"] in appeal_ids:
                    key = (event["appeal_id"], event["type"])
                    seen[key] = seen.get(key, 0) + 1
            return all((a, t) in seen for a in appeal_ids for t in types)

        poll(collect, timeout=timeout, what=f"events {types} for {appeal_ids}")
    finally:
        consumer.close()
    return seen


def test_web_and_hotline_appeals_are_dispatched_end_to_end(
    services: RunningServices, broker: BrokerProcess, mongo: DatabaseProcess, http: httpx.Client
) -> None:
    before = http.get(services.url("metrics", "/metrics")).text
    dispatched_before = metric_value(
        before, "appeals_backlog", {"street": "JA-JAS", "state": "dispatched"}
    )
    web = http.post(
        services.url("appeals", "/api/v1/appeals"),
        json={
            "text": "华山路120号门口人行道上的窨井盖不见了，晚上很危险",
            "address": "华山路120号",
            "contact": {"phone": "13800000000"},
        },
    )
    assert web.status_code == 201, web.text
    operator = staff_login(services, "operator", None)
    hotline = http.post(
        services.url("appeals", "/api/v1/hotline/appeals"),
        headers=operator,
        json={
            "text": "来电反映延安中路1650号小吃店卫生很差，吃了拉肚子",
            "address": "延安中路1650号",
            "matter": "market.food_safety",
            "call_id": f"call-{uuid.uuid4().hex}",
            "caller_phone": "13900000000",
        },
    )
    assert hotline.status_code == 201, hotline.text
    created = {web.json()["id"]: web.json(), hotline.json()["id"]: hotline.json()}
    for body in created.values():
        assert body["tracking_no"] and body["token"]

    db = MongoClient(mongo.url, tz_aware=True)[services.mongo_db]
    try:

        def all_dispatched() -> list[dict] | None:
            docs = list(db.appeals.find({"_id": {"$in": list(created)}}))
            return docs if all(d["state"] == "dispatched" for d in docs) and docs else None

        docs = poll(all_dispatched, timeout=60, what="both appeals dispatched")
        units = {d["_id"]: d["unit"] for d in docs}
        assert units[hotline.json()["id"]] == "JA-JAS-MS"
        assert units[web.json()["id"]] == "JA-JAS-RM"

        seen = read_events(broker.bootstrap, set(created), {"appeal.received", "appeal.dispatched"})
        for appeal_id in created:
            assert seen[(appeal_id, "appeal.received")] == 1
            assert seen[(appeal_id, "appeal.dispatched")] == 1

        def notified() -> list[dict] | None:
            found = list(db.deliveries.find({"appeal_id": {"$in": list(created)}}))
            kinds = {(d["appeal_id"], d["event_type"]) for d in found}
            want = {(a, t) for a in created for t in ("appeal.received", "appeal.dispatched")}
            return found if want <= kinds else None

        deliveries = poll(notified, timeout=30, what="a notification per event")
        assert len({d["_id"] for d in deliveries}) == len(deliveries)
    finally:
        db.client.close()

    def counted() -> float | None:
        text = http.get(services.url("metrics", "/metrics")).text
        value = metric_value(text, "appeals_backlog", {"street": "JA-JAS", "state": "dispatched"})
        return value if value >= dispatched_before + 2 else None

    poll(counted, timeout=30, what="metrics counting both dispatched appeals")


def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    services: RunningServices, mongo: DatabaseProcess, http: httpx.Client
) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    cases = [
        ({"address": "华山路1号"}, "text"),
        ({"text": marker}, "address or a location"),
        ({"text": marker, "location": {"lon": 500, "lat": 31.2}}, "lon"),
        ({"text": marker, "address": "华山路1号", "matter": "no.such_matter"}, "matter"),
        ({"text": marker, "address": "华山路1号", "colour": "red"}, "colour"),
        ({"text": marker, "address": "华山路1号", "contact": {"phone": "call me"}}, "phone"),
        ({"text": "x" * 5000, "address": "华山路1号"}, "text"),
    ]
    for body, field in cases:
        response = http.post(services.url("appeals", "/api/v1/appeals"), json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text, (field, response.text)
    db = MongoClient(mongo.url)[services.mongo_db]
    try:
        assert db.appeals.count_documents({"text": marker}) == 0
    finally:
        db.client.close()


def test_idempotency_key_returns_the_same_appeal(
    services: RunningServices, http: httpx.Client
) -> None:
    key = uuid.uuid4().hex
    body = {"text": "路灯坏了一个礼拜", "address": "华山路30号"}
    first = http.post(
        services.url("appeals", "/api/v1/appeals"), json=body, headers={"Idempotency-Key": key}
    )
    second = http.post(
        services.url("appeals", "/api/v1/appeals"), json=body, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["replayed"] is True and second.json()["token"] is None


def test_the_hotline_needs_a_logged_in_operator(
    services: RunningServices, http: httpx.Client
) -> None:
    body = {"text": "路灯坏了", "address": "华山路30号"}
    anonymous = http.post(services.url("appeals", "/api/v1/hotline/appeals"), json=body)
    assert anonymous.status_code == 401
    unit_staff = staff_login(services, "unit_staff", "JA-JAS-RM")
    refused = http.post(
        services.url("appeals", "/api/v1/hotline/appeals"), json=body, headers=unit_staff
    )
    assert refused.status_code == 403
    assert "operator" in refused.text


def test_the_routing_service_suggests_matters_and_addresses(
    services: RunningServices, http: httpx.Client
) -> None:
    matters = http.get(
        services.url("routing", "/api/v1/suggest/matters"), params={"text": "井盖不见了"}
    )
    assert matters.status_code == 200
    assert matters.json()[0]["matter"] == "road.manhole_cover"
    addresses = http.get(services.url("routing", "/api/v1/suggest/addresses"), params={"q": "华山"})
    assert addresses.status_code == 200
    assert any(a["community"] == "JA-JAS-C01" for a in addresses.json())
    assert http.get(services.url("routing", "/api/v1/suggest/matters")).status_code == 422


def test_an_oversized_body_is_refused_before_parsing(
    services: RunningServices, http: httpx.Client
) -> None:
    body = b'{"text": "' + b"x" * (100 * 1024) + b'", "address": "a"}'
    response = http.post(
        services.url("appeals", "/api/v1/appeals"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
