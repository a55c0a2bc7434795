"""Scenario 1: kill -9 each part in turn while appeals flow, then check nothing was lost or
doubled.

A background client posts web appeals at a steady rate, each with its own Idempotency-Key, and
retries with the same key whenever it does not know whether its request landed (connection
error, timeout, 503). Meanwhile the broker, the database and each service (appeals, routing,
notify, metrics) are killed with SIGKILL in turn and started again on the same port and data,
with the same APPEALS_WORKER_ID. Afterwards every accepted appeal must exist exactly once, be in
the state the router decides, have one appeal.received in the event log and on the broker, one
notify delivery per (event, recipient, channel), and the metrics totals must equal the number of
appeals. A broker crash may make the outbox relay publish an event again (same event_id): those
copies are counted as "redelivered", and only their effects must be single.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    FaultStack,
    Row,
    Sender,
    expected_outcomes,
    record,
    reference_appeals,
    verify,
)

pytestmark = pytest.mark.faults

FAULTS = ("broker", "database", "appeals", "routing", "notify", "metrics")
APPEALS = 100
DOWN_SECONDS = 1.5


@pytest.mark.timeout(900)
def test_kill_9_each_part_in_turn_while_appeals_flow(tmp_path: Path, broker_profile: str) -> None:
    specs = reference_appeals(APPEALS)
    expected_outcomes()  # build the reference router before the stack competes for the CPU
    started = time.monotonic()
    stack = FaultStack.start(tmp_path, broker_profile)
    row = Row("1. kill -9 + restart, each part")
    try:
        sender = Sender(stack.url("appeals"), specs, interval=0.5).start()
        sender.wait_sent(8, timeout=60)
        downtime = {}
        for part in FAULTS:
            before = len(sender.done)
            stack.kill(part)
            time.sleep(DOWN_SECONDS)  # appeals keep coming while it is down
            downtime[part] = DOWN_SECONDS + stack.bring_back(part)
            # Traffic flows again before the next fault.
            sender.wait_sent(min(before + 6, APPEALS), timeout=120)
        submissions = sender.stop()
        verdict = verify(stack, submissions, row)
        retried = sum(1 for s in submissions if s.attempts > 1)
        answers = sum((s.answers for s in submissions), start=type(submissions[0].answers)())
        row.notes += [
            "down " + ", ".join(f"{p} {t:.0f}s" for p, t in downtime.items()),
            f"{retried} retried ({dict(answers)})",
            f"{verdict.redelivered} redelivered on the broker",
        ]
        row.seconds = time.monotonic() - started
        record(row)
        assert not verdict.problems, "\n".join(verdict.problems) + "\n" + stack.log_tails()
        assert row.lost == 0 and row.duplicates == 0
        assert row.sent == row.accepted == row.stored == row.final_ok == row.final_total
    finally:
        stack.stop()
