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
from collections import Counter
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

SERVICE_FAULTS = ("database", "appeals", "routing", "notify", "metrics")
DOWN_SECONDS = 1.5


def run_faults(
    tmp_path: Path, profile: str, name: str, faults: tuple[str, ...], count: int
) -> tuple[Row, list[str]]:
    """Post ``count`` appeals while each part in ``faults`` is killed and restarted in turn;
    return the row and the problems found."""
    specs = reference_appeals(count)
    expected_outcomes()  # build the reference router before the stack competes for the CPU
    started = time.monotonic()
    stack = FaultStack.start(tmp_path, profile)
    row = Row(name)
    try:
        sender = Sender(stack.url("appeals"), specs, interval=0.4).start()
        sender.wait_sent(8, timeout=60)
        downtime = {}
        for part in faults:
            before = len(sender.done)
            stack.kill(part)
            time.sleep(DOWN_SECONDS)  # appeals keep coming while it is down
            downtime[part] = DOWN_SECONDS + stack.bring_back(part)
            # Traffic flows again before the next fault.
            sender.wait_sent(min(before + 5, count), timeout=120)
        sender.wait_sent(count, timeout=120)
        submissions = sender.stop()
        verdict = verify(stack, submissions, row)
        retried = sum(1 for s in submissions if s.attempts > 1)
        answers: Counter[str] = Counter()
        for s in submissions:
            answers.update(s.answers)
        row.notes += [
            "down " + ", ".join(f"{p} {t:.0f}s" for p, t in downtime.items()),
            f"{retried} retried ({dict(answers)})",
            f"{verdict.redelivered} redelivered on the broker",
        ]
        if stack.rewound:
            moved = sum(len(p) for p in stack.rewound.values())
            row.notes.append(f"{moved} committed offsets past the log end rewound")
        if stack.rewind_refused:
            row.notes.append(f"rewind refused: {stack.rewind_refused}")
        row.seconds = time.monotonic() - started
        record(row)
        problems = verdict.problems
        if problems:
            problems.append(stack.log_tails())
        return row, problems
    finally:
        stack.stop()


@pytest.mark.timeout(900)
def test_kill_9_the_database_and_each_service_while_appeals_flow(
    tmp_path: Path, broker_profile: str
) -> None:
    row, problems = run_faults(
        tmp_path, broker_profile, "1. kill -9 db + each service", SERVICE_FAULTS, 60
    )
    assert not problems, "\n".join(problems)
    assert row.lost == 0 and row.duplicates == 0
    assert row.sent == row.accepted == row.stored == row.final_ok == row.final_total


@pytest.mark.timeout(600)
def test_kill_9_the_broker_while_appeals_flow(tmp_path: Path, broker_profile: str) -> None:
    # noida restarts ~1 s in the past and republished events reuse offsets the stream workers
    # had already read past, so the services are stopped before the broker comes back and
    # started after it, to resume from their committed offsets (docs/faults.md, findings 1
    # and 6; FaultStack.bring_back).
    row, problems = run_faults(tmp_path, broker_profile, "1b. kill -9 broker", ("broker",), 30)
    assert not problems, "\n".join(problems)
    assert row.lost == 0 and row.duplicates == 0
    assert row.sent == row.accepted == row.stored == row.final_ok == row.final_total
