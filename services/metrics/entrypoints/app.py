"""The metrics worker (faust): appeal events -> figures per level, on /metrics.

Run: ``appeals serve metrics`` (or ``faust -A services.metrics.entrypoints.app worker``).

State lives in changelog-backed tables, so a restarted worker resumes with its totals instead
of counting from zero. Faust tables must be written under the key's own partition, so totals
are kept per source partition (``"<partition>|<street>|<state>"``) and summed when exposed.
Each appeal's record keeps the ids of the events already counted: a redelivered event is
recognised and skipped, so nothing is counted twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.metrics.config import MetricsSettings
from shared.events import InvalidEvent, decode_event
from shared.faust_app import dead_letter, make_faust_app
from shared.topics import APPEAL_EVENTS

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)

# The state an event leaves the appeal in (events that change no state are absent).
STATE_AFTER = {
    "appeal.received": "received",
    "appeal.dispatched": "dispatched",
    "appeal.triaged": "triage",
    "appeal.transferred": "transferred",
    "appeal.signed": "signed",
    "appeal.responded": "responded",
    "appeal.resolved": "resolved",
    "appeal.reviewed": "reviewed",
    "appeal.reopened": "dispatched",
    "appeal.closed": "closed",
    "appeal.merged": "merged",
}


class TableCollector(Collector):
    """Exposes the ``appeals_by_state`` totals held in a faust table."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def collect(self) -> Iterator[GaugeMetricFamily]:
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for key, value in list(self.table.items()):
            _partition, street, state = key.split("|", 2)
            totals[(street, state)] += int(value or 0)
        family = GaugeMetricFamily(
            "appeals_by_state",
            "Appeals currently in each state, per street.",
            labels=["street", "state"],
        )
        for (street, state), count in sorted(totals.items()):
            family.add_metric([street, state], count)
        yield family


def create_app(settings: MetricsSettings | None = None) -> faust.App:
    """The faust app with its agent, tables and metrics."""
    settings = settings or MetricsSettings()
    registry = CollectorRegistry()
    consumed = Counter(
        "metrics_events_consumed_total",
        "Events folded into the figures.",
        ["type"],
        registry=registry,
    )
    app = make_faust_app(
        "appeals-metrics",
        settings,
        web_port=settings.metrics_port,
        registry=registry,
        data_dir=settings.data_dir / "faust" / "metrics",
    )
    appeals = app.Table("appeal-facts", default=None, partitions=4)
    by_state = app.Table("appeals-by-state", default=int, partitions=4)
    registry.register(TableCollector(by_state))

    events = app.topic(
        APPEAL_EVENTS,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(events)
    async def fold(stream: faust.StreamT[bytes]) -> None:
        async for event_ctx in stream.events():
            try:
                event = decode_event(event_ctx.value)
            except InvalidEvent as exc:
                await dead_letter(app, APPEAL_EVENTS, event_ctx, str(exc))
                continue
            partition = event_ctx.message.partition
            facts = dict(
                appeals.get(event.appeal_id) or {"seen": [], "state": None, "street": None}
            )
            if event.event_id in facts["seen"]:
                continue  # redelivered: already counted
            new_state = STATE_AFTER.get(event.type)
            street = event.street or facts["street"] or "unplaced"
            if new_state is not None:
                if facts["state"] is not None:
                    old_key = f"{partition}|{facts['street'] or 'unplaced'}|{facts['state']}"
                    by_state[old_key] = by_state[old_key] - 1
                new_key = f"{partition}|{street}|{new_state}"
                by_state[new_key] = by_state[new_key] + 1
                facts["state"] = new_state
            facts["street"] = street
            facts["seen"] = [*facts["seen"], event.event_id][-50:]
            appeals[event.appeal_id] = facts
            consumed.labels(event.type).inc()

    return app


app = create_app()
