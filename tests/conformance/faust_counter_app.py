"""A minimal faust app for the conformance test: a table counting events per key.

Run as a subprocess by tests/conformance/test_broker.py::
    python tests/conformance/faust_counter_app.py worker --without-web -l info
configured by environment variables: CONFORMANCE_BOOTSTRAP, CONFORMANCE_PROFILE (a
shared.kafka broker profile), CONFORMANCE_APP_ID (also the topic prefix), CONFORMANCE_DATADIR,
and for tests/conformance/test_faust_transport.py: CONFORMANCE_CORRECTED=0 builds a plain
faust.App on aiokafka as released (no ``shared.aiokafka_fixes``; otherwise the services'
``CorrectedApp`` with them), and
CONFORMANCE_SYNC_GROUP_ERRORS=N makes the N SyncGroup answers after the first join fail the
way aiokafka fails on a broker's ``UnknownError`` answer (the error noida sends now and then).
The in-memory table store is deliberate: a restarted worker can only know earlier counts by
replaying the table's changelog topic, which is what the test checks.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable
from typing import Any

import faust
from aiokafka import errors
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance

from shared import aiokafka_fixes
from shared.faust_transport import CorrectedApp
from shared.kafka import faust_settings

APP_ID = os.environ["CONFORMANCE_APP_ID"]
PARTITIONS = 2
SYNC_GROUP_ERRORS = int(os.environ.get("CONFORMANCE_SYNC_GROUP_ERRORS", "0"))


def fail_sync_group_answers(count: int) -> None:
    """After the first join, the next ``count`` SyncGroup requests fail as on an UnknownError.

    The request is not sent: to the broker it is a SyncGroup that never came, as when it failed
    the request itself; the member gets what aiokafka raises for an answer with error code -1
    (``KafkaError(repr(UnknownError()))``), so aiokafka's own handling of it runs.
    """
    send = CoordinatorGroupRebalance._send_sync_group_request
    calls = {"n": 0}

    async def failing(self: CoordinatorGroupRebalance, request: Any) -> Any:
        calls["n"] += 1
        if not 1 < calls["n"] <= 1 + count:
            return await send(self, request)
        print(f"=== injected SyncGroup UnknownError {calls['n'] - 1}/{count}", flush=True)
        raise errors.KafkaError(repr(errors.UnknownError()))

    CoordinatorGroupRebalance._send_sync_group_request = failing  # type: ignore[method-assign]


if SYNC_GROUP_ERRORS:
    fail_sync_group_answers(SYNC_GROUP_ERRORS)

App: type[faust.App] = CorrectedApp
if os.environ.get("CONFORMANCE_CORRECTED") == "0":
    aiokafka_fixes.uninstall()
    App = faust.App
app = App(
    APP_ID,
    broker=f"kafka://{os.environ['CONFORMANCE_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["CONFORMANCE_DATADIR"],
    topic_partitions=PARTITIONS,
    web_enabled=False,
    **faust_settings(os.environ["CONFORMANCE_PROFILE"]),
)
increments = app.topic(f"{APP_ID}.in", key_serializer="raw", value_serializer="json")
totals = app.topic(f"{APP_ID}.totals", key_serializer="raw", value_serializer="json")
counts = app.Table("counts", default=int, partitions=PARTITIONS)


@app.agent(increments)
async def count(stream: AsyncIterable[tuple[bytes, int]]) -> None:
    """Add each increment to its key's count and publish the new total."""
    async for key, value in stream.items():  # type: ignore[attr-defined]
        name = key.decode()
        counts[name] += value
        await totals.send(key=key, value={"key": name, "total": counts[name]})


if __name__ == "__main__":
    app.main()
