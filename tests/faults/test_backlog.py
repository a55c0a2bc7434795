"""Scenario 4: a stopped (slow) consumer builds a backlog; intake does not care.

The routing worker is stopped; appeals keep coming and intake answers 201 to each; the routing
group's lag on appeals.events (end offset minus committed offset, by the Kafka admin API) grows
to at least the number of appeals; when routing starts again, every appeal is dispatched as
decided and the lag returns to zero.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from shared.topics import ALL_TOPICS, APPEAL_EVENTS, ROUTING_GROUP
from tests.faults.harness import (
    FaultStack,
    Row,
    Sender,
    expected_outcomes,
    poll,
    record,
    reference_appeals,
    verify,
)

pytestmark = pytest.mark.faults

BACKLOG = 50


def partition_lag(bootstrap: str, group: str) -> dict[int, tuple[int | None, int]]:
    """For each appeals.events partition: (the group's committed offset or None, end offset)."""

    async def lag() -> dict[int, tuple[int | None, int]]:
        partitions = [TopicPartition(APPEAL_EVENTS, p) for p in range(ALL_TOPICS[APPEAL_EVENTS])]
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
            await admin.close()
        offsets: dict[int, tuple[int | None, int]] = {}
        for tp in partitions:
            meta = committed.get(tp)
            at = meta.offset if meta is not None and meta.offset >= 0 else None
            offsets[tp.partition] = (at, ends[tp])
        return offsets

    return asyncio.run(lag())


def group_lag(bootstrap: str, group: str) -> int:
    """Sum over appeals.events partitions of end offset - the group's committed offset."""
    return sum(end - (at or 0) for at, end in partition_lag(bootstrap, group).values())


@pytest.mark.timeout(600)
def test_backlog_builds_while_routing_is_stopped_and_drains(
    tmp_path: Path, broker_profile: str
) -> None:
    specs = reference_appeals(BACKLOG + 4)
    expected_outcomes()
    started = time.monotonic()
    stack = FaultStack.start(tmp_path, broker_profile, services=("appeals", "routing"))
    row = Row("4. routing stopped: backlog")
    try:
        warm = Sender(stack.url("appeals"), specs[:4], interval=0.1).start()
        warm.wait_sent(4, timeout=60)
        first = warm.stop()
        verify(stack, first, Row("warm-up"), check_notify=False, check_metrics=False)
        poll(lambda: group_lag(stack.broker.bootstrap, ROUTING_GROUP) == 0, timeout=30,
             what="routing caught up before the stop")  # fmt: skip
        stack.services["routing"].stop()
        sender = Sender(stack.url("appeals"), specs[4:], interval=0.05).start()
        sender.wait_sent(BACKLOG, timeout=120)
        backlog = sender.stop()
        peak = poll(
            lambda: (n := group_lag(stack.broker.bootstrap, ROUTING_GROUP)) >= BACKLOG and n,
            timeout=60,
            what="the routing group's lag to show the backlog",
        )
        restart_seconds = stack.bring_back("routing")
        verdict = verify(stack, first + backlog, row, check_notify=False, check_metrics=False)
        try:
            drained = poll(
                lambda: group_lag(stack.broker.bootstrap, ROUTING_GROUP) == 0 or None,
                timeout=60,
                what="the routing group's lag back to zero",
            )
        except AssertionError as exc:
            # Which partition stayed behind, and what routing said meanwhile: the evidence a
            # flaky drain needs (docs/faults.md).
            offsets = partition_lag(stack.broker.bootstrap, ROUTING_GROUP)
            raise AssertionError(
                f"{exc}\n(committed, end) by partition: {offsets}\n{stack.log_tails()}"
            ) from None
        statuses = sorted({s.status or 0 for s in backlog})
        row.notes += [
            f"intake answered {statuses} while routing was down",
            f"routing lag peaked at {peak}, drained: {bool(drained)}",
            f"routing ready {restart_seconds:.0f}s after start",
        ]
        row.seconds = time.monotonic() - started
        record(row)
        assert statuses == [201]
        assert not verdict.problems, "\n".join(verdict.problems)
        assert row.lost == 0 and row.duplicates == 0
        assert row.sent == row.accepted == row.stored == row.final_ok == row.final_total
    finally:
        stack.stop()
