"""A minimal faust app for the conformance test: a table counting events per key.

Run as a subprocess by tests/conformance/test_broker.py::
    python tests/conformance/faust_counter_app.py worker --without-web -l info
configured by environment variables: CONFORMANCE_BOOTSTRAP, CONFORMANCE_PROFILE (a
shared.kafka broker profile), CONFORMANCE_APP_ID (also the topic prefix), CONFORMANCE_DATADIR.
The in-memory table store is deliberate: a restarted worker can only know earlier counts by
replaying the table's changelog topic, which is what the test checks.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable

import faust

from shared.kafka import faust_settings

APP_ID = os.environ["CONFORMANCE_APP_ID"]
PARTITIONS = 2

app = faust.App(
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
