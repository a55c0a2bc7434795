"""Scenario 6: ten staff members of the lead unit sign one appeal at the same moment.

Accounts are made as staff_login does (the real ``appeals staff add`` CLI, then a login over
HTTP). Ten threads wait on a barrier and POST .../sign together: exactly one wins (200), the
nine others get 409, and the appeal records one appeal.signed. Done twice: without If-Match
(each loser is re-decided on the new state) and with If-Match (each loser has a stale version).
"""

from __future__ import annotations

import subprocess
import sys
import threading
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
    record,
    reference_appeals,
    verify,
)

pytestmark = pytest.mark.faults

STAFF = 10


def login(stack: FaultStack, role: str, unit: str) -> dict[str, str]:
    """A new account made with the real CLI, logged in over HTTP (as staff_login does)."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    added = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "staff", "add", "--username", username,
         "--role", role, "--password-stdin", "--unit", unit],
        input=password + "\n", env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    response = httpx.post(
        stack.url("appeals", "/api/v1/auth/login"),
        json={"username": username, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def race(
    stack: FaultStack, appeal_id: str, staff: list[dict[str, str]], version: int | None
) -> Counter[int]:
    """Every staff member signs at once; return the status codes."""
    barrier = threading.Barrier(len(staff))
    codes: list[int] = []
    lock = threading.Lock()

    def sign(headers: dict[str, str]) -> None:
        if version is not None:
            headers = {**headers, "If-Match": str(version)}
        with httpx.Client(timeout=30) as http:
            barrier.wait(30)
            response = http.post(
                stack.url("appeals", f"/api/v1/appeals/{appeal_id}/sign"), json={}, headers=headers
            )
        with lock:
            codes.append(response.status_code)

    threads = [threading.Thread(target=sign, args=(h,)) for h in staff]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return Counter(codes)


@pytest.mark.timeout(600)
def test_ten_concurrent_signs_one_wins(tmp_path: Path, broker_profile: str) -> None:
    outcomes = expected_outcomes()
    specs = [s for s in reference_appeals(20) if outcomes[s.ref][0] == "dispatch"]
    # Two appeals for the same unit, so one set of accounts can sign both.
    unit = outcomes[specs[0].ref][1]
    pair = [s for s in specs if outcomes[s.ref][1] == unit][:2]
    if len(pair) < 2:
        pair = [specs[0], specs[0]]
    started = time.monotonic()
    stack = FaultStack.start(tmp_path, broker_profile, services=("appeals", "routing"))
    row = Row("6. 10 concurrent signs")
    try:
        sender = Sender(stack.url("appeals"), pair, interval=0.1).start()
        sender.wait_sent(2, timeout=60)
        submissions = sender.stop()
        accounts: list[dict[str, str]] = []
        failures: list[BaseException] = []

        def make() -> None:
            try:
                accounts.append(login(stack, "unit_staff", str(unit)))
            except BaseException as exc:
                failures.append(exc)

        makers = [threading.Thread(target=make) for _ in range(STAFF)]
        for maker in makers:
            maker.start()
        for maker in makers:
            maker.join(180)
        assert not failures, failures
        verdict = verify(stack, submissions, row, check_notify=False, check_metrics=False)
        assert not verdict.problems, "\n".join(verdict.problems)
        plain_id, conditional_id = (s.appeal_id for s in submissions)
        assert plain_id and conditional_id
        plain = race(stack, plain_id, accounts, None)
        db = stack.db()
        try:
            version = db.appeals.find_one({"_id": conditional_id})["version"]  # type: ignore[index]
            conditional = race(stack, conditional_id, accounts, version)
            signed: dict[str, int] = {}
            for appeal_id in (plain_id, conditional_id):
                doc = db.appeals.find_one({"_id": appeal_id}) or {}
                signed[appeal_id] = len(
                    [e for e in doc.get("events", []) if e["type"] == "appeal.signed"]
                )
        finally:
            db.client.close()
        row.duplicates = sum(max(0, n - 1) for n in signed.values())
        row.notes += [
            f"without If-Match: {dict(plain)}",
            f"with If-Match: {dict(conditional)}",
            f"appeal.signed per appeal: {list(signed.values())}",
        ]
        row.seconds = time.monotonic() - started
        record(row)
        assert plain == Counter({200: 1, 409: STAFF - 1})
        assert conditional == Counter({200: 1, 409: STAFF - 1})
        assert list(signed.values()) == [1, 1]
    finally:
        stack.stop()
