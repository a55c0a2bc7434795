"""Kafka topic names and their partition counts. Keys are appeal ids (per-appeal order)."""

from __future__ import annotations

__all__ = ["ALL_TOPICS", "APPEAL_EVENTS", "DEAD_LETTERS", "ROUTING_DECISIONS"]

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
