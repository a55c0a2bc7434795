"""faust's Kafka transport with one correction: a never-committed partition resumes from its start.

faust drops records it fetched just before a rebalance or during recovery (its ``getmany``
stops yielding once flow stops) although the fetch position has already moved past them, and
relies on ``perform_seek`` to move every partition back to its committed offset afterwards.
aiokafka's ``seek_to_committed`` leaves a partition alone when its committed offset is unknown
or 0, so such a partition went on after records nobody processed. On noida, which answers one
fetch with the whole partition, a restarted worker skipped everything written to a partition
its group had never committed (docs/faults.md, finding 8); Apache Kafka drops up to one fetch
(``max_partition_fetch_bytes``) the same way.

Here ``seek_to_committed`` also moves each such partition of a stream topic (not a table's
changelog, which faust positions itself) to its log start, which is what the consumers'
``auto_offset_reset=earliest`` asks for. The consumers are idempotent on event id, so reading
a partition again from its start is always safe.

``make_faust_app`` builds its apps with this transport (``CorrectedApp``). The override
touches faust's driver classes (``AIOKafkaConsumerThread``, the transport's ``Consumer``);
tests/conformance pins the behaviour, so a faust upgrade that changes them fails there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from shared import aiokafka_fixes

# A broker's unexpected answer in a rebalance must not stop or idle a worker (finding 10).
aiokafka_fixes.install()

__all__ = ["CorrectedApp"]

log = logging.getLogger(__name__)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[Any, int]:
        return await self.call_thread(self._seek_to_committed_or_start)

    async def _seek_to_committed_or_start(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        fresh = [
            tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs
        ]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
            log.info(
                "partitions never committed start from their log start: %s",
                ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(fresh)),
            )
        return committed  # type: ignore[return-value]


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class CorrectedApp(faust.App):
    """A faust.App whose Kafka consumer resumes never-committed partitions from the start."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
