"""Kafka client settings per broker, topic creation, and the producer/consumer factories.

Production talks to Apache Kafka with library defaults. The embedded stand-ins need a few
settings of their own (../shared/INFRA.md measured why); they live here, in one table, chosen by
``APPEALS_BROKER_PROFILE`` and never leak into the ``kafka`` profile:

- tansu answers ListOffsets(latest) with the last *batch's* base offset + 1, so end offsets,
  lag and faust's changelog recovery are only right when every batch holds one record; it
  holds a JoinGroup for half the session timeout, so short sessions make groups form fast;
  it cannot do idempotent producers.
- noida auto-creates topics with one partition, so topics are created up front. It writes its
  log to disk about once a second, so a record it acknowledged can still be lost if it is
  killed within that second (tests/conformance): ``durable_after_s`` tells the outbox relay to
  keep an event in the outbox that long after the ack, so a crash republishes it instead of
  losing it (consumers de-duplicate by event id).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.topics import ALL_TOPICS

__all__ = [
    "BROKER_PROFILES",
    "BrokerProfile",
    "ensure_topics",
    "faust_settings",
    "make_consumer",
    "make_producer",
    "rewind_groups_to_log_end",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerProfile:
    """Client settings one kind of broker needs."""

    producer: dict[str, Any] = field(default_factory=dict)
    consumer: dict[str, Any] = field(default_factory=dict)
    faust: dict[str, Any] = field(default_factory=dict)
    # How long after an ack a record is certainly on the broker's disk (0: at the ack).
    durable_after_s: float = 0.0
    # Static group membership (KIP-345): a restarted worker rejoins under its old identity.
    static_membership: bool = False


BROKER_PROFILES: dict[str, BrokerProfile] = {
    "kafka": BrokerProfile(
        producer={"acks": "all", "enable_idempotence": True, "linger_ms": 5},
        faust={"producer_acks": -1},
    ),
    "noida": BrokerProfile(
        # Idempotence as in production: noida supports InitProducerId (tests/conformance).
        producer={"acks": "all", "enable_idempotence": True, "linger_ms": 2},
        durable_after_s=2.0,
        # noida never evicts a member that died without leaving (kill -9): the group stays
        # blocked for good. A restarted worker with the same group.instance.id takes its
        # place at once (tests/conformance).
        static_membership=True,
        consumer={"session_timeout_ms": 10000, "heartbeat_interval_ms": 1000},
        faust={
            "topic_replication_factor": 1,
            "broker_session_timeout": 10,
            "broker_heartbeat_interval": 1,
            "producer_acks": -1,
        },
    ),
    "tansu": BrokerProfile(
        producer={"acks": "all", "max_batch_size": 1, "linger_ms": 0},
        consumer={"session_timeout_ms": 6000, "heartbeat_interval_ms": 2000},
        faust={
            "topic_replication_factor": 1,
            "broker_session_timeout": 6,
            "broker_heartbeat_interval": 2,
            "producer_max_batch_size": 1,
            "producer_acks": -1,
        },
    ),
}


def make_producer(bootstrap: str, profile: str, **overrides: Any) -> AIOKafkaProducer:
    """An aiokafka producer with the profile's settings (start it yourself)."""
    options = {**BROKER_PROFILES[profile].producer, **overrides}
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **options)


def make_consumer(
    *topics: str,
    bootstrap: str,
    profile: str,
    group_id: str | None,
    instance_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """An aiokafka consumer with manual commits and the profile's settings.

    ``instance_id`` names this worker within its group; it is used as the static
    group.instance.id where the profile asks for static membership.
    """
    options: dict[str, Any] = {
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **BROKER_PROFILES[profile].consumer,
        **overrides,
    }
    if BROKER_PROFILES[profile].static_membership and group_id and instance_id:
        options["group_instance_id"] = f"{group_id}-{instance_id}"
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group_id, **options)


def faust_settings(profile: str, *, app_id: str = "", instance_id: str = "") -> dict[str, Any]:
    """Extra faust.App settings for a broker profile (and this worker's static identity)."""
    options = dict(BROKER_PROFILES[profile].faust)
    if BROKER_PROFILES[profile].static_membership and app_id and instance_id:
        options["consumer_group_instance_id"] = f"{app_id}-{instance_id}"
    return options


async def ensure_topics(
    bootstrap: str, topics: dict[str, int] | None = None, *, timeout_s: float = 30.0
) -> None:
    """Create the topics with their partition counts if they do not exist yet."""
    wanted = ALL_TOPICS if topics is None else topics
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, num_partitions=n, replication_factor=1)
                for name, n in wanted.items()
                if name not in existing
            ]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
            return
        except KafkaError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.info("broker not ready for topic creation yet: %s", exc)
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def rewind_groups_to_log_end(
    bootstrap: str, groups: list[str], topics: dict[str, int] | None = None
) -> dict[str, dict[str, tuple[int, int]]]:
    """Move every committed offset that lies beyond its partition's end back to the end.

    For a broker that came back in the past (noida snapshots its log about once a second but
    keeps committed offsets that were newer than the snapshot: measured, docs/faults.md
    finding 7). A group left committed past the end would skip the records written next at
    the reused offsets — the outbox relay's republished events among them. Call it with every
    consumer stopped and before anyone writes; returns ``{group: {"topic:partition": (from,
    to)}}`` for what it moved.
    """
    wanted = ALL_TOPICS if topics is None else topics
    partitions = [TopicPartition(t, p) for t, n in wanted.items() for p in range(n)]
    moved: dict[str, dict[str, tuple[int, int]]] = {}
    for group in groups:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            rewind: dict[TopicPartition, int] = {}
            for tp in partitions:
                committed = await consumer.committed(tp)
                if committed is not None and committed > ends[tp]:
                    rewind[tp] = ends[tp]
                    moved.setdefault(group, {})[f"{tp.topic}:{tp.partition}"] = (
                        committed,
                        ends[tp],
                    )
            if rewind:
                await consumer.commit(rewind)
        finally:
            await consumer.stop()
    return moved
