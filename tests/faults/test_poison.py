"""Scenario 2: poison messages on appeals.events and routing.decisions.

Three kinds on each topic: bytes that are not JSON, valid JSON of an unknown type, and a
well-formed message about an appeal that does not exist. Each must end on the source topic's
dead-letter topic (read back with kafka-python) with the error, from every consumer of that
topic that cannot apply it, and the consumers must go on: a good appeal posted after the
poison is dispatched, notified and counted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared.events import Actor, AppealReturned, RoutingDecision, encode, new_event
from shared.kafka import make_producer
from shared.topics import APPEAL_EVENTS, DEAD_LETTERS, ROUTING_DECISIONS
from tests.faults.harness import (
    FaultStack,
    Row,
    Sender,
    expected_outcomes,
    poll,
    read_topic,
    record,
    reference_appeals,
    verify,
)

pytestmark = pytest.mark.faults

# The consumers of appeals.events (faust app ids) and of routing.decisions.
EVENT_CONSUMERS = frozenset({"appeals-routing", "appeals-notify", "appeals-metrics"})
GHOST = Actor(kind="staff", id="poison-test")


def poison_events(ghost: str) -> dict[str, bytes]:
    unknown_type = {
        "event_id": uuid.uuid4().hex,
        "type": "appeal.teleported",
        "schema_version": 1,
        "appeal_id": ghost,
        "occurred_at": datetime.now(UTC).isoformat(),
        "actor": {"kind": "system", "id": "poison"},
        "data": {},
    }
    # A returned appeal is routed again from what routing remembers, and counted against a
    # unit by metrics: none of that can be done for an appeal nobody has heard of.
    unknown_appeal = new_event(
        "appeal.returned",
        appeal_id=ghost,
        actor=GHOST,
        data=AppealReturned(reason="不归我管", returned_by="JA-JAS-RM", return_count=1),
        street="JA-JAS",
        unit="JA-JAS-RM",
    )
    return {
        "garbage": b"\xff\x00 not json \x80",
        "unknown type": orjson.dumps(unknown_type),
        "unknown appeal": encode(unknown_appeal),
    }


def poison_decisions(ghost: str) -> dict[str, bytes]:
    unknown_appeal = RoutingDecision(
        decision_id=uuid.uuid4().hex,
        appeal_id=ghost,
        based_on_event_id=uuid.uuid4().hex,
        decided_at=datetime.now(UTC),
        street="JA-JAS",
        district="JA",
        matter="road.manhole",
        unit="JA-JAS-RM",
        confidence=0.99,
    )
    return {
        "garbage": b"\xff\x00 not json \x80",
        "unknown type": orjson.dumps({"type": "routing.shrugged", "appeal_id": ghost}),
        "unknown appeal": encode(unknown_appeal),
    }


def publish(bootstrap: str, profile: str, topic: str, messages: dict[str, bytes], key: str) -> None:
    async def send() -> None:
        producer = make_producer(bootstrap, profile)
        await producer.start()
        try:
            for value in messages.values():
                await producer.send_and_wait(topic, value=value, key=key.encode())
        finally:
            await producer.stop()

    asyncio.run(send())


def dead_letters(stack: FaultStack, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in read_topic(stack.broker.bootstrap, DEAD_LETTERS[topic])]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, broker_profile: str) -> Any:
    expected_outcomes()
    started = FaultStack.start(tmp_path_factory.mktemp("poison"), broker_profile)
    try:
        yield started
    finally:
        started.stop()


def by_value(letters: list[dict[str, Any]], sent: dict[str, bytes]) -> dict[str, set[str]]:
    """Which services dead-lettered each message sent (the appeals service names none)."""
    found: dict[str, set[str]] = {kind: set() for kind in sent}
    for letter in letters:
        for kind, value in sent.items():
            if letter.get("value") == value.decode("utf-8", "replace"):
                found[kind].add(letter.get("service", "appeals"))
    return found


def test_poison_goes_to_dead_letters_and_the_next_appeal_flows(
    stack: FaultStack, broker_profile: str
) -> None:
    started = time.monotonic()
    key = f"poison-{uuid.uuid4().hex[:12]}"
    events = {k: v for k, v in poison_events(key).items() if k != "unknown appeal"}
    decisions = {k: v for k, v in poison_decisions(key).items() if k != "unknown appeal"}
    publish(stack.broker.bootstrap, broker_profile, APPEAL_EVENTS, events, key)
    publish(stack.broker.bootstrap, broker_profile, ROUTING_DECISIONS, decisions, key)
    # Good appeals right behind the poison (some on the poison's partition, by key hash).
    sender = Sender(stack.url("appeals"), reference_appeals(12), interval=0.2).start()
    sender.wait_sent(12, timeout=120)
    submissions = sender.stop()
    want_events = {kind: set(EVENT_CONSUMERS) for kind in events}
    want_decisions = {kind: {"appeals"} for kind in decisions}

    def found() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        return (
            by_value(dead_letters(stack, APPEAL_EVENTS), events),
            by_value(dead_letters(stack, ROUTING_DECISIONS), decisions),
        )

    row = Row("2. poison: garbage, unknown type")
    verdict = verify(stack, submissions, row)
    try:

        def complete() -> tuple[dict[str, set[str]], dict[str, set[str]]] | None:
            got = found()
            return got if got == (want_events, want_decisions) else None

        got_events, got_decisions = poll(complete, timeout=30, what="dead letters")
    except AssertionError:
        got_events, got_decisions = found()
    row.notes.append(
        "dead-lettered by: "
        + ", ".join(f"{k}: {'+'.join(sorted(v))}" for k, v in got_events.items())
        + "; decisions: "
        + ", ".join(f"{k}: {'+'.join(sorted(v))}" for k, v in got_decisions.items())
    )
    row.seconds = time.monotonic() - started
    record(row)
    assert not verdict.problems, "\n".join(verdict.problems)
    assert row.lost == 0 and row.duplicates == 0
    assert row.sent == row.accepted == row.final_ok == row.final_total == 12
    assert (got_events, got_decisions) == (want_events, want_decisions)


def test_messages_about_an_unknown_appeal_are_dead_lettered(
    stack: FaultStack, broker_profile: str
) -> None:
    started = time.monotonic()
    ghost = f"ghost-{uuid.uuid4().hex[:12]}"
    event = {"unknown appeal": poison_events(ghost)["unknown appeal"]}
    decision = {"unknown appeal": poison_decisions(ghost)["unknown appeal"]}
    publish(stack.broker.bootstrap, broker_profile, APPEAL_EVENTS, event, ghost)
    publish(stack.broker.bootstrap, broker_profile, ROUTING_DECISIONS, decision, ghost)
    sender = Sender(stack.url("appeals"), reference_appeals(3), interval=0.2).start()
    sender.wait_sent(3, timeout=60)
    submissions = sender.stop()
    row = Row("2b. poison: unknown appeal")
    verdict = verify(stack, submissions, row, check_metrics=False)
    # Routing cannot route it and metrics cannot count it: both must park it.
    want_event = {"unknown appeal": {"appeals-routing", "appeals-metrics", "appeals-notify"}}
    want_decision = {"unknown appeal": {"appeals"}}

    def found() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        return (
            by_value(dead_letters(stack, APPEAL_EVENTS), event),
            by_value(dead_letters(stack, ROUTING_DECISIONS), decision),
        )

    try:

        def complete() -> tuple[dict[str, set[str]], dict[str, set[str]]] | None:
            got = found()
            ok = got[0]["unknown appeal"] >= want_event["unknown appeal"]
            return got if ok and got[1] == want_decision else None

        got_event, got_decision = poll(complete, timeout=20, what="dead letters (ghost)")
    except AssertionError:
        got_event, got_decision = found()
    db = stack.db()
    try:
        facts = db.metrics_facts.count_documents({"_id": ghost})
        notices = db.deliveries.count_documents({"appeal_id": ghost})
    finally:
        db.client.close()
    row.notes.append(
        f"dead-lettered by: {sorted(got_event['unknown appeal'])}, decision by: "
        f"{sorted(got_decision['unknown appeal'])}; ghost: {facts} metrics facts, "
        f"{notices} notify deliveries"
    )
    row.seconds = time.monotonic() - started
    record(row)
    assert not verdict.problems, "\n".join(verdict.problems)
    assert got_event["unknown appeal"] >= want_event["unknown appeal"]
    assert got_decision == want_decision
    assert facts == 0 and notices == 0, "a ghost appeal was counted or notified"
