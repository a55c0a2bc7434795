"""Scenario 3: the database goes away and comes back.

While SecantusDB is stopped, intake must answer 503 with Retry-After (never 201 for an appeal
it could not store) and /readyz must be 503. A client that keeps retrying with the same
Idempotency-Key gets its appeal accepted once the database is back, and nothing accepted
before, during or after the outage is lost.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.timeout(600)
def test_intake_refuses_honestly_while_the_database_is_down(
    tmp_path: Path, broker_profile: str
) -> None:
    specs = reference_appeals(40)
    expected_outcomes()
    started = time.monotonic()
    stack = FaultStack.start(tmp_path, broker_profile, services=("appeals", "routing"))
    row = Row("3. database down, then back")
    try:
        sender = Sender(stack.url("appeals"), specs, interval=0.3).start()
        sender.wait_sent(10, timeout=60)
        stack.database.stop()  # SIGTERM: the database is away, not crashed
        down_at = time.monotonic()
        probes: list[tuple[int, str | None, str]] = []
        with httpx.Client(timeout=15) as http:
            ready = http.get(stack.url("appeals", "/readyz")).status_code
            for spec in specs[:3]:
                key = f"probe-{uuid.uuid4().hex}"
                answer = http.post(
                    stack.url("appeals", "/api/v1/appeals"),
                    json=spec.body(),
                    headers={"Idempotency-Key": key},
                )
                probes.append((answer.status_code, answer.headers.get("Retry-After"), key))
        stack.bring_back("database")
        outage = time.monotonic() - down_at
        poll(
            lambda: httpx.get(stack.url("appeals", "/readyz"), timeout=10).status_code == 200,
            timeout=30,
            what="/readyz back to 200",
        )
        sender.wait_sent(len(specs), timeout=180)
        submissions = sender.stop()
        verdict = verify(stack, submissions, row, check_notify=False, check_metrics=False)
        db = stack.db()
        try:
            probes_stored = db.appeals.count_documents(
                {"idempotency_key": {"$in": [f"web:{key}" for _, _, key in probes]}}
            )
        finally:
            db.client.close()
        answers: Counter[str] = Counter()
        for s in submissions:
            answers.update(s.answers)
        row.notes += [
            f"outage {outage:.0f}s: /readyz {ready}, probes {[(c, r) for c, r, _ in probes]}",
            f"{probes_stored} probes stored",
            f"client answers {dict(answers)} (retried with the same key)",
        ]
        row.seconds = time.monotonic() - started
        record(row)
        assert ready == 503
        assert all(code == 503 and retry for code, retry, _ in probes), probes
        assert probes_stored == 0, "a refused appeal was stored"
        assert not verdict.problems, "\n".join(verdict.problems)
        assert row.lost == 0 and row.duplicates == 0
        assert row.sent == row.accepted == row.stored == row.final_ok == row.final_total
    finally:
        stack.stop()
