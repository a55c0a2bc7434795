"""The notify worker (faust): tells staff and residents what happened to an appeal.

Run: ``appeals serve notify`` (or ``faust -A services.notify.entrypoints.app worker``).
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter

from services.notify.adapters.delivery_log import DeliveryLog
from services.notify.config import NotifySettings
from services.notify.domain.recipients import deliveries_for
from shared.events import InvalidEvent, decode_event
from shared.faust_app import dead_letter, make_faust_app
from shared.mongo import make_client
from shared.topics import APPEAL_EVENTS

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)


def create_app(settings: NotifySettings | None = None) -> faust.App:
    """The faust app with its agent and metrics."""
    settings = settings or NotifySettings()
    registry = CollectorRegistry()
    delivered = Counter(
        "notify_deliveries_total",
        "Deliveries made.",
        ["channel", "event_type"],
        registry=registry,
    )
    duplicates = Counter(
        "notify_duplicates_skipped_total",
        "Redelivered events already delivered.",
        registry=registry,
    )
    app = make_faust_app(
        "appeals-notify",
        settings,
        web_port=settings.notify_port,
        registry=registry,
        data_dir=settings.data_dir / "faust" / "notify",
    )
    holder: dict[str, Any] = {}

    def delivery_log() -> DeliveryLog:
        if "log" not in holder:
            holder["log"] = DeliveryLog(make_client(settings.mongo_url), settings.mongo_db)
        return holder["log"]  # type: ignore[no-any-return]

    events = app.topic(
        APPEAL_EVENTS,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(events)
    async def notify(stream: faust.StreamT[bytes]) -> None:
        async for event_ctx in stream.events():
            try:
                event = decode_event(event_ctx.value)
            except InvalidEvent as exc:
                await dead_letter(app, APPEAL_EVENTS, event_ctx, str(exc))
                continue
            for delivery in deliveries_for(event):
                if await delivery_log().record(delivery):
                    delivered.labels(delivery.channel, delivery.event_type).inc()
                    log.info(
                        "delivered %s to %s",
                        delivery.event_type,
                        delivery.recipient,
                        extra={"appeal_id": event.appeal_id, "event_id": event.event_id},
                    )
                else:
                    duplicates.inc()

    return app


app = create_app()
