"""faust's Kafka transport, corrected so that no record is skipped around a rebalance.

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

Two more corrections keep the records around a rebalance (docs/faults.md, finding 12). A
restarted routing worker lost up to 33 of 50 waiting appeals (the routing watchdog sent them
again), and when two neighbouring records were lost, its group's committed offset stayed behind
them for good (faust commits only the acknowledged records that follow the committed offset).

- faust's fetch loop drops every record below the offset it last handed to a stream
  (``_read_offset``), so that nothing is handed over twice after a seek. But a batch fetched
  before ``perform_seek`` can go on through the loop after it and move that offset past records
  the seek asked for again, which were then dropped as seen although they never reached the
  agent. Here a stream topic's record is never dropped for its offset (table changelogs keep
  faust's rule). Offsets of our stream topics are contiguous (idempotent, not transactional,
  producers; no compaction), so faust's detection of offset gaps, which rides on that rule, is
  not missed.
- With that, the records at a partition's committed offset were still lost now and then right
  after a restart, in a way we have not pinned down (no faust log line says it drops them).
  So ``SETTLE_SECONDS`` after a rebalance's seek, the stream partitions are rewound to their
  committed offsets once more, and whatever was lost is read again.

Both hand some records over twice. Every consumer here is idempotent on event id (notify and
metrics de-duplicate; routing deciding twice is harmless: the appeals service ignores a
decision for an appeal that has moved on), so reading a record again is safe; losing it is not.

``make_faust_app`` builds its apps with this transport (``CorrectedApp``). The override
touches faust's driver classes (``AIOKafkaConsumerThread``, the transport's ``Consumer``);
tests/conformance pins the behaviour, so a faust upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
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

# How long after a rebalance's seek the stream partitions are rewound once more.
SETTLE_SECONDS = 3.0


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


class _StreamOffsetsForgotten(defaultdict[Any, int | None]):
    """faust's ``_read_offset``, answering None (nothing read yet) for stream topics' partitions
    in the fetch loop's check, so that a record fetched again after a seek is always handed
    over (the stored offsets stay as faust keeps them)."""

    def __init__(self, is_changelog: Any) -> None:
        super().__init__(lambda: None)
        self._is_changelog = is_changelog

    def __getitem__(self, tp: Any) -> int | None:
        return super().__getitem__(tp) if self._is_changelog(tp.topic) else None


class _Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _StreamOffsetsForgotten(
            lambda topic: topic in self.app.tables.changelog_topics
        )
        self._settle_task: asyncio.Future[None] | None = None

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        # Once the rebalance has settled, rewind to the committed offsets once more: records
        # fetched during it were lost, now and then, in a way not pinned down (finding 12).
        # A rebalance within the wait replaces the pending rewind with its own.
        if self._settle_task is not None and not self._settle_task.done():
            self._settle_task.cancel()
        generation = self.app.consumer_generation_id
        self._settle_task = asyncio.ensure_future(self._seek_again(generation))

    async def _seek_again(self, generation: int) -> None:
        await asyncio.sleep(SETTLE_SECONDS)
        if self.app.consumer_generation_id != generation or self.should_stop:
            return  # another rebalance came: its own seek does this
        try:
            await super().perform_seek()
            log.info("stream partitions rewound to their committed offsets after the rebalance")
        except Exception as exc:  # the next rebalance seeks again; never stop the worker
            log.warning("second seek after the rebalance failed: %r", exc)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class CorrectedApp(faust.App):
    """A faust.App whose Kafka consumer resumes never-committed partitions from the start."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
