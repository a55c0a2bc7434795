"""The running routing worker learns from a dispatcher's correction without a restart.

Its own broker, database, appeals service and routing worker (learning from history, looking
for new corrections every 3 s), so what it learns does not reach the session's stack and the
other tests. The words alone decide (no encoder): the loop under test is the database -> training ->
swap, not the second opinion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.embedded import BrokerKind
from tests.faults.harness import MONGO_DB, FaultStack
from tests.integration.conftest import RunningServices, metric_value, poll, staff_login

TEXT = "门口那条河里全是死鱼，一股味道"  # no word of the catalog: the router cannot know it


@pytest.fixture
def learning_stack(broker_profile: BrokerKind, tmp_path: Path) -> Iterator[RunningServices]:
    # The fault scenarios' stack: its own broker and database, and only the two services.
    stack = FaultStack.start(
        tmp_path,
        broker_profile,
        services=("appeals", "routing"),
        extra={
            "APPEALS_ROUTING_EMBEDDINGS": "false",
            "APPEALS_ROUTING_LEARN_FROM_HISTORY": "true",
            "APPEALS_ROUTING_RELEARN_MINUTES": "0.05",
        },
    )
    try:
        yield RunningServices(stack.services, stack.ports, MONGO_DB, stack.env)
    finally:
        stack.stop()


def test_a_signed_manual_dispatch_teaches_the_running_router(
    learning_stack: RunningServices,
) -> None:
    stack = learning_stack
    dispatcher = staff_login(stack, "dispatcher", "JA-DC")
    operator = staff_login(stack, "operator", None)  # sees every appeal, whatever its state
    station = staff_login(stack, "unit_staff", "JA-JAS-WA")
    http = httpx.Client(timeout=10)

    def create(address: str) -> str:
        response = http.post(
            stack.url("appeals", "/api/v1/appeals"), json={"text": TEXT, "address": address}
        )
        assert response.status_code == 201, response.text
        appeal_id: str = response.json()["id"]
        return appeal_id

    def appeal(appeal_id: str) -> dict[str, object]:
        response = http.get(stack.url("appeals", f"/api/v1/appeals/{appeal_id}"), headers=operator)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    def routing_metric(name: str, labels: dict[str, str]) -> float:
        return metric_value(http.get(stack.url("routing", "/metrics")).text, name, labels)

    try:
        # Before: the router does not know the wording, and the appeal waits in triage.
        first = create("华山路120号")
        poll(
            lambda: appeal(first)["state"] == "triage", timeout=60, what="the first appeal triaged"
        )
        assert routing_metric("routing_training_examples", {"source": "history"}) == 0

        # A district dispatcher sends it to the street's water station, which signs it.
        sent = http.post(
            stack.url("appeals", f"/api/v1/appeals/{first}/dispatch"),
            json={"unit": "JA-JAS-WA", "matter": "water.drainage_blockage"},
            headers=dispatcher,
        )
        assert sent.status_code == 200, sent.text
        signed = http.post(
            stack.url("appeals", f"/api/v1/appeals/{first}/sign"), json={}, headers=station
        )
        assert signed.status_code == 200, signed.text

        # The worker finds the correction, trains again and swaps the router in, unrestarted.
        poll(
            lambda: routing_metric("routing_relearns_total", {"outcome": "retrained"}) >= 1,
            timeout=60,
            what="the routing worker to train on the correction",
        )
        assert routing_metric("routing_training_examples", {"source": "history"}) == 1
        assert routing_metric("routing_relearns_total", {"outcome": "failed"}) == 0
        assert stack.processes["routing"].alive

        # After: the same wording in another street goes straight to that street's station.
        second = create("鲁班路45号")
        decided = poll(
            lambda: (a := appeal(second))["state"] == "dispatched" and a,
            timeout=60,
            what="the second appeal dispatched",
        )
        assert decided["unit"] == "HP-WLQ-WA" and decided["matter"] == "water.drainage_blockage"
    finally:
        http.close()
