"""Pipeline-health metrics every stream worker exposes under the same names.

The "pipeline health" dashboard and the consumer-lag alert query these series across
services (``service`` label): events consumed, messages that were not valid events, messages
sent to a dead-letter topic, and consumer lag per partition. Each service builds them once on
its own registry; ``install_lag_timer`` keeps the lag gauge current in a faust worker.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["PipelineMetrics", "install_lag_timer"]

log = logging.getLogger(__name__)


class PipelineMetrics:
    """events_consumed_total, events_invalid_total, dead_letters_total, state_restored_total,
    consumer_lag."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            "events_consumed", "Events consumed.", ("service", "type"), registry=registry
        )
        self.events_invalid = Counter(
            "events_invalid", "Messages that are not valid events.", ("service",), registry=registry
        )
        self.dead_letters = Counter(
            "dead_letters",
            "Messages sent to a dead-letter topic.",
            ("service", "topic"),
            registry=registry,
        )
        self.state_restored = Counter(
            "state_restored",
            "Appeals missing from a worker's own state (lost in a crash) and restored from the "
            "appeals service's event log.",
            ("service",),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "consumer_lag",
            "Messages not yet consumed.",
            ("service", "topic", "partition"),
            registry=registry,
        )

    def consumed(self, service: str, event_type: str) -> None:
        """Count one event a service consumed."""
        self.events_consumed.labels(service, event_type).inc()

    def invalid(self, service: str) -> None:
        """Count one message a service could not decode."""
        self.events_invalid.labels(service).inc()

    def dead_letter(self, service: str, topic: str) -> None:
        """Count one message a service sent to a dead-letter topic."""
        self.dead_letters.labels(service, topic).inc()

    def restored(self, service: str) -> None:
        """Count one appeal whose lost state a service rebuilt from the event log."""
        self.state_restored.labels(service).inc()

    def set_lag(self, service: str, topic: str, partition: int, lag: int) -> None:
        """Record a consumer's lag (end offset - committed offset) on one partition."""
        self.consumer_lag.labels(service, topic, str(partition)).set(lag)


class LagSink(Protocol):
    """Anything with ``set_lag`` (PipelineMetrics, or a service's metrics that wrap it)."""

    def set_lag(self, service: str, topic: str, partition: int, lag: int) -> None: ...


def install_lag_timer(
    app: Any, metrics: LagSink, *, service: str, topic: str, interval: float
) -> None:
    """Every ``interval`` seconds, set the worker's lag on each assigned partition of ``topic``."""

    @app.timer(interval)
    async def refresh_lag() -> None:
        consumer = app.consumer
        if consumer is None:
            return
        tps = [tp for tp in consumer.assignment() if tp.topic == topic]
        if not tps:
            return
        try:
            highwaters = await consumer.highwaters(*tps)
        except Exception:
            log.warning("cannot read the end offsets of %s", topic, exc_info=True)
            return
        # faust keeps the offsets it committed; before the first commit, the position.
        committed = getattr(consumer, "_committed_offset", {})
        for tp in tps:
            done = committed.get(tp)
            if done is None:
                done = await consumer.position(tp)
            end = highwaters.get(tp)
            if end is not None and done is not None:
                metrics.set_lag(service, tp.topic, tp.partition, max(0, end - done))
