"""The SLA sweeper in a real appeals process: one appeal.overdue per missed deadline, ever.

This module runs its own appeals process (``appeals serve appeals`` via ``start_service``)
against the session's broker and database, with a database of its own and a sweep every half
second, so it can stop and restart the service without disturbing the shared ``services``.

The test's clock: an appeal's deadlines are computed from the real time at dispatch, days
ahead. To make them pass now, the test writes them into the past directly in MongoDB
(``deadlines.*``) — the one thing it fakes; the sweeper, the lifecycle, the outbox and the
broker are the real ones. Appeals are dispatched by applying a routing decision through the
service layer (``apply_decision``) rather than by the routing service: this process shares
the ``appeals-decisions`` consumer group with the session's appeals service, so the router's
answer may land there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer

from services.appeals.adapters.store import AppealStore
from services.appeals.domain.lifecycle import TRANSITIONS, Sign, Staff, Supervise
from services.appeals.domain.sla import WorkCalendar
from services.appeals.service_layer.commands import execute
from services.appeals.service_layer.decisions import apply_decision
from services.cli.stack import service_env, start_service
from shared.city import City, load_city
from shared.embedded import BrokerProcess, DatabaseProcess, ManagedProcess, free_port
from shared.events import RoutingDecision
from shared.mongo import make_client
from shared.topics import APPEAL_EVENTS
from tests.integration.conftest import poll, reference_city
from tests.integration.test_staff_commands import wait_for

LEAD = "JA-JAS-RM"


class SweeperStack:
    """One appeals process of this module's own, restartable."""

    def __init__(self, env: dict[str, str], port: int, data_dir: Path) -> None:
        self.env = env
        self.port = port
        self.data_dir = data_dir
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        self.process = start_service(
            "appeals", env=self.env, port=self.port, data_dir=self.data_dir
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def log(self) -> str:
        return (self.data_dir / "appeals.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def stack(
    broker: BrokerProcess, mongo: DatabaseProcess, infra_dir: Path, broker_profile: str
) -> Any:
    port = free_port()
    db = f"appeals_sweeper_{uuid.uuid4().hex[:8]}"
    data_dir = infra_dir / f"sweeper-{db}"
    env = service_env(
        bootstrap=broker.bootstrap,
        broker_profile=broker_profile,
        mongo_url=mongo.url,
        data_dir=data_dir,
        ports={"appeals": port},
        extra={
            "APPEALS_MONGO_DB": db,
            "APPEALS_JURISDICTION_FILE": str(reference_city() / "jurisdiction.yaml"),
            "APPEALS_MATTERS_FILE": str(reference_city() / "matters.yaml"),
            "APPEALS_SWEEPER_INTERVAL_SECONDS": "0.5",
        },
    )
    running = SweeperStack(env, port, data_dir)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(reference_city() / "jurisdiction.yaml", reference_city() / "matters.yaml")


@pytest.fixture
async def store(mongo: DatabaseProcess, stack: SweeperStack) -> AsyncIterator[AppealStore]:
    client = make_client(mongo.url)
    try:
        yield AppealStore(client, stack.env["APPEALS_MONGO_DB"])
    finally:
        await client.close()


async def dispatched_appeal(stack: SweeperStack, store: AppealStore, city: City) -> str:
    """A web appeal, dispatched to JA-JAS-RM through the service layer."""
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(
            stack.url("/api/v1/appeals"),
            json={
                "text": "华山路120号门口路灯坏了",
                "address": "华山路120号",
                "matter": "road.street_light",
            },
        )
    assert response.status_code == 201, response.text
    appeal_id: str = response.json()["id"]
    doc = await store.get(appeal_id)
    assert doc is not None
    decision = RoutingDecision(
        decision_id=uuid.uuid4().hex,
        appeal_id=appeal_id,
        based_on_event_id=doc["awaiting_decision_for"],
        decided_at=datetime.now(UTC),
        street="JA-JAS",
        community="JA-JAS-C01",
        district="JA",
        matter="road.street_light",
        unit=LEAD,
        urgency="normal",
        confidence=0.99,
        reasons=["test: dispatched through the service layer"],
    )
    await apply_decision(decision, store=store, city=city, calendar=WorkCalendar())

    async def dispatched() -> bool:
        current = await store.get(appeal_id)
        return current is not None and current["state"] == "dispatched"

    await wait_for(dispatched, what=f"appeal {appeal_id} dispatched")
    return appeal_id


async def move_deadlines_into_the_past(store: AppealStore, appeal_id: str) -> dict[str, datetime]:
    """The test's clock: every deadline of the appeal now lies in the past (module docstring)."""
    now = datetime.now(UTC).replace(microsecond=0)
    past = {
        "sign_by": now - timedelta(hours=3),
        "respond_by": now - timedelta(hours=2),
        "resolve_by": now - timedelta(hours=1),
    }
    await store.appeals.update_one(
        {"_id": appeal_id}, {"$set": {f"deadlines.{k}": v for k, v in past.items()}}
    )
    return past


def overdue_in_log(doc: dict[str, Any]) -> list[str]:
    return sorted(e["data"]["deadline"] for e in doc["events"] if e["type"] == "appeal.overdue")


def overdue_on_broker(bootstrap: str, appeal_ids: set[str], expected: int) -> list[dict[str, Any]]:
    """Every appeal.overdue of these appeals on appeals.events, read from the start."""
    consumer = KafkaConsumer(
        APPEAL_EVENTS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    seen: list[dict[str, Any]] = []
    try:

        def collect() -> bool:
            for message in consumer:
                event = orjson.loads(message.value)
                if event["appeal_id"] in appeal_ids and event["type"] == "appeal.overdue":
                    seen.append(event)
            return len(seen) >= expected

        poll(collect, timeout=30, what=f"{expected} appeal.overdue events on the broker")
        # Read on a little: a duplicate would arrive right behind the originals.
        collect()
    finally:
        consumer.close()
    return seen


async def test_one_overdue_event_per_missed_deadline_across_a_restart(
    stack: SweeperStack, store: AppealStore, city: City, broker: BrokerProcess
) -> None:
    late = await dispatched_appeal(stack, store, city)
    # The signed one met its sign deadline: only respond and resolve can be missed.
    signed = await dispatched_appeal(stack, store, city)
    worker = Staff(id="rm-1", role="unit_staff", unit=LEAD, street="JA-JAS", district="JA")
    await execute(signed, Sign(), worker, store=store, city=city, calendar=WorkCalendar())
    due = await move_deadlines_into_the_past(store, late)
    await move_deadlines_into_the_past(store, signed)

    async def flagged(appeal_id: str, count: int) -> dict[str, Any] | None:
        doc = await store.get(appeal_id)
        return doc if doc is not None and len(doc["overdue_flags"]) == count else None

    doc = await wait_for(lambda: flagged(late, 3), what="three overdue flags")
    assert overdue_in_log(doc) == ["resolve", "respond", "sign"]
    due_at = {
        e["data"]["deadline"]: datetime.fromisoformat(e["data"]["due_at"].replace("Z", "+00:00"))
        for e in doc["events"]
        if e["type"] == "appeal.overdue"
    }
    assert due_at == {
        "sign": due["sign_by"],
        "respond": due["respond_by"],
        "resolve": due["resolve_by"],
    }
    assert all(
        e["actor"]["id"] == "sla-sweeper" for e in doc["events"] if e["type"] == "appeal.overdue"
    )
    doc = await wait_for(lambda: flagged(signed, 2), what="two overdue flags")
    assert overdue_in_log(doc) == ["resolve", "respond"]

    # Let the relay finish with them first: it keeps an acknowledged event in the outbox until
    # the broker has it on disk and would publish it once more after a restart (at least
    # once, same event id) — a different guarantee from the one this test is about.
    async def relayed() -> bool:
        docs = [await store.get(a) for a in (late, signed)]
        return all(d is not None and not d["outbox_pending"] for d in docs)

    await wait_for(relayed, what="the outbox relayed")
    # Restart the service: the flags are in the aggregate, so nothing is emitted again.
    stack.stop()
    stack.start()
    # A fresh late appeal proves the restarted sweeper has swept since.
    after_restart = await dispatched_appeal(stack, store, city)
    await move_deadlines_into_the_past(store, after_restart)
    await wait_for(lambda: flagged(after_restart, 3), what="the restarted sweeper")

    for appeal_id, expected in ((late, 3), (signed, 2)):
        stored = await store.get(appeal_id)
        assert stored is not None
        assert len(overdue_in_log(stored)) == expected, overdue_in_log(stored)

    on_broker = overdue_on_broker(broker.bootstrap, {late, signed, after_restart}, 8)
    per_appeal = {
        appeal_id: sorted(e["data"]["deadline"] for e in on_broker if e["appeal_id"] == appeal_id)
        for appeal_id in (late, signed, after_restart)
    }
    assert per_appeal == {
        late: ["resolve", "respond", "sign"],
        signed: ["resolve", "respond"],
        after_restart: ["resolve", "respond", "sign"],
    }
    assert len({e["event_id"] for e in on_broker}) == len(on_broker) == 8


async def test_escalation_follows_what_the_lifecycle_allows_the_sweeper(
    stack: SweeperStack, store: AppealStore, city: City
) -> None:
    """Street-level 督办 once the resolve deadline passed — if the lifecycle lets the system
    supervise; otherwise the sweeper says so once in its log and supervises nothing."""
    appeal = await dispatched_appeal(stack, store, city)
    await move_deadlines_into_the_past(store, appeal)

    async def swept() -> dict[str, Any] | None:
        doc = await store.get(appeal)
        return doc if doc is not None and len(doc["overdue_flags"]) == 3 else None

    await wait_for(swept, what="the overdue flags")
    if "system" in TRANSITIONS[Supervise].roles:

        async def supervised() -> list[dict[str, Any]] | None:
            doc = await store.get(appeal)
            assert doc is not None
            found = [e for e in doc["events"] if e["type"] == "appeal.supervised"]
            return found or None

        found = await wait_for(supervised, what="street-level supervision")
        assert [e["data"]["level"] for e in found] == ["street"]
    else:
        await wait_for(
            lambda: _log_says(stack, "sla escalation is off"), what="the sweeper's warning"
        )
        doc = await store.get(appeal)
        assert doc is not None
        assert not [e for e in doc["events"] if e["type"] == "appeal.supervised"]


async def _log_says(stack: SweeperStack, text: str) -> bool:
    return text in stack.log
