"""Kafka topic names and their partition counts. Keys are appeal ids (per-appeal order)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

__all__ = [
    "ALL_TOPICS",
    "APPEAL_EVENTS",
    "DEAD_LETTERS",
    "DECISIONS_GROUP",
    "METRICS_GROUP",
    "NOTIFY_GROUP",
    "ROUTING_DECISIONS",
    "ROUTING_GROUP",
    "consumer_groups",
    "partition_of",
]

APPEAL_EVENTS = "appeals.events"
ROUTING_DECISIONS = "routing.decisions"
# One dead-letter topic per source, so a poison message keeps its provenance.
DEAD_LETTERS = {
    APPEAL_EVENTS: "appeals.events.dlq",
    ROUTING_DECISIONS: "routing.decisions.dlq",
    "notify.deliveries": "notify.deliveries.dlq",
}

# Partitions bound how many workers of a consumer group can share the load.
ALL_TOPICS: dict[str, int] = {
    APPEAL_EVENTS: 4,
    ROUTING_DECISIONS: 4,
    **{dlq: 1 for dlq in DEAD_LETTERS.values()},
}

# Consumer groups (the faust app ids of the stream workers; the appeals service's decisions
# consumer). notify's and metrics' can be renamed by APPEALS_NOTIFY_APP_ID / _METRICS_APP_ID.
ROUTING_GROUP = "appeals-routing"
NOTIFY_GROUP = "appeals-notify"
METRICS_GROUP = "appeals-metrics"
DECISIONS_GROUP = "appeals-decisions"


def consumer_groups(env: dict[str, str]) -> list[str]:
    """Every consumer group of a deployment whose services get ``env``."""
    return [
        ROUTING_GROUP,
        env.get("APPEALS_NOTIFY_APP_ID", NOTIFY_GROUP),
        env.get("APPEALS_METRICS_APP_ID", METRICS_GROUP),
        DECISIONS_GROUP,
    ]


def partition_of(appeal_id: str, partitions: int = ALL_TOPICS[APPEAL_EVENTS]) -> int:
    """The partition (of ``partitions``) the producers put an appeal's messages on: the Kafka
    clients' default partitioner, murmur2 of the key (tests/conformance checks the broker
    agrees)."""
    every = list(range(partitions))
    return int(DefaultPartitioner()(appeal_id.encode(), every, every))
