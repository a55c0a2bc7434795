"""All Prometheus metrics of the notify worker, built on the registry it is given.

Labels are channel, outcome and event type only: never a recipient, a phone number or an
e-mail address.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["NotifyMetrics"]


class NotifyMetrics:
    """notify_deliveries_total{channel,outcome}, notify_dead_letters_total, ..."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # outcome: sent, retry (temporary failure, will be tried again), failed (given up),
        # duplicate (already claimed: a redelivered event)
        self.deliveries = Counter(
            "notify_deliveries_total",
            "Delivery attempts by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "notify_dead_letters_total",
            "Deliveries given up and sent to notify.deliveries.dlq.",
            ["channel"],
            registry=registry,
        )
        self.seconds = Histogram(
            "notify_delivery_seconds",
            "Time one send over a channel takes.",
            ["channel"],
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.events = Counter(
            "notify_events_total", "Events handled.", ["event_type"], registry=registry
        )
        self.invalid = Counter(
            "notify_invalid_events_total",
            "Messages on appeals.events that are not valid events (sent to its DLQ).",
            registry=registry,
        )
        self.reminders = Counter(
            "notify_reminders_total",
            "Deadline-near reminders raised.",
            ["deadline"],
            registry=registry,
        )
