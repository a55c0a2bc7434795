"""A consumer process for the kill -9 group tests: joins, prints its assignment, waits.

Run: python killable_consumer.py BOOTSTRAP TOPIC GROUP [INSTANCE_ID]
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaConsumer


async def main(bootstrap: str, topic: str, group: str, instance: str | None) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        group_instance_id=instance,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    while not consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no assignment event
        await asyncio.sleep(0.1)
    print("assigned", len(consumer.assignment()), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], args[3] if len(args) > 3 else None))
