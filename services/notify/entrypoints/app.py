"""The notify worker (faust): tells staff and residents what happened to an appeal.

Run: ``appeals serve notify`` (or ``faust -A services.notify.entrypoints.app worker``).

- agent ``notify`` on ``appeals.events``: one ``Notifier.handle_event`` per event; a message
  that is not a valid event goes to ``appeals.events.dlq``; a database outage is waited out
  (the event is retried, never skipped).
- timer ``retry_deliveries`` (every ``APPEALS_RETRY_SCAN_SECONDS``): due retries and deliveries
  whose sender died.
- timer ``remind_deadlines`` (every ``APPEALS_REMINDER_SCAN_SECONDS``): "deadline near".
- ``GET /api/v1/stream?recipient=unit:<code>``: the recipient's inbox as server-sent events
  (entrypoints/stream.py); ``/healthz``, ``/readyz``, ``/metrics`` as every service.
Given-up deliveries go to ``notify.deliveries.dlq``. Contract: docs/notify.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, cast

import faust
import orjson
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from pymongo.errors import PyMongoError

from services.notify.adapters.prometheus import NotifyMetrics
from services.notify.bootstrap import Wiring, build
from services.notify.config import NotifySettings
from services.notify.domain.privacy import scrub
from services.notify.entrypoints.stream import add_stream_page
from shared.city import load_city
from shared.events import EventEnvelope, InvalidEvent, decode_event
from shared.faust_app import dead_letter, make_faust_app
from shared.pipeline_metrics import PipelineMetrics, install_lag_timer
from shared.topics import APPEAL_EVENTS, DEAD_LETTERS

__all__ = ["app", "create_app"]

SERVICE = "notify"
log = logging.getLogger(__name__)

DELIVERIES_DLQ = DEAD_LETTERS["notify.deliveries"]


def create_app(settings: NotifySettings | None = None) -> faust.App:
    """The faust app with its agent, timers, stream page and metrics."""
    settings = settings or NotifySettings()
    # Loaded now so that a broken city file stops the worker at start, not at the first event.
    city = load_city(settings.jurisdiction_file, settings.matters_file)
    registry = CollectorRegistry()
    metrics = NotifyMetrics(registry)
    pipeline = PipelineMetrics(registry)
    app = make_faust_app(
        settings.notify_app_id,
        settings,
        web_port=settings.notify_port,
        registry=registry,
        data_dir=settings.data_dir / "faust" / "notify",
    )
    install_lag_timer(app, pipeline, service=SERVICE, topic=APPEAL_EVENTS, interval=5.0)
    dlq = app.topic(
        DELIVERIES_DLQ,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def dead_letter_delivery(body: dict[str, Any]) -> None:
        sent = await dlq.send(
            key=body["appeal_id"].encode(), value=orjson.dumps({**body, "service": app.conf.id})
        )
        await sent  # wait for the broker: a dead letter must not be lost in a buffer

    # Built on first use, inside faust's running loop (the async clients bind to it).
    state: dict[str, Wiring] = {}
    lock = asyncio.Lock()

    async def wiring() -> Wiring:
        async with lock:
            if "wiring" not in state:
                built = build(
                    settings, metrics=metrics, dead_letter=dead_letter_delivery, city=city
                )
                await built.ensure_indexes()
                state["wiring"] = built
        return state["wiring"]

    async def handle(event: EventEnvelope) -> None:
        context = {"appeal_id": event.appeal_id, "event_id": event.event_id}
        failures = 0
        while True:
            try:
                await (await wiring()).notifier.handle_event(event)
                return
            except (PyMongoError, KafkaError) as exc:
                # The database or broker is away: wait, and do the whole event again (the
                # delivery log makes that harmless) rather than let the offset move on.
                failures += 1
                wait = min(10.0, 0.5 * 2 ** min(failures, 5))
                log.warning(
                    "cannot handle %s yet (%s); again in %.1fs",
                    event.type,
                    type(exc).__name__,
                    wait,
                    extra=context,
                )
                await asyncio.sleep(wait)

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
                metrics.invalid.inc()
                pipeline.invalid(SERVICE)
                if await dead_letter(app, APPEAL_EVENTS, event_ctx, str(exc)):
                    pipeline.dead_letter(SERVICE, DEAD_LETTERS[APPEAL_EVENTS])
                continue
            pipeline.consumed(SERVICE, event.type)
            try:
                await handle(event)
            except Exception as exc:
                # A bug met by one event must not stop every other appeal's notices: the event
                # is parked on the dead-letter topic (with the error) for a person to look at.
                log.exception(
                    "cannot handle %s",
                    event.type,
                    extra={"appeal_id": event.appeal_id, "event_id": event.event_id},
                )
                error = scrub(f"notify: {type(exc).__name__}: {exc}")[:500]
                if await dead_letter(app, APPEAL_EVENTS, event_ctx, error):
                    pipeline.dead_letter(SERVICE, DEAD_LETTERS[APPEAL_EVENTS])

    @app.timer(interval=settings.retry_scan_seconds)
    async def retry_deliveries() -> None:
        try:
            await (await wiring()).notifier.retry_due()
        except Exception:  # a timer that raises stops for good; log and try next tick
            log.exception("retry scan failed")

    @app.timer(interval=settings.reminder_scan_seconds)
    async def remind_deadlines() -> None:
        try:
            await (await wiring()).notifier.remind_due()
        except Exception:
            log.exception("reminder scan failed")

    def close(sender: Any, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        wired = state.pop("wiring", None)
        return wired.close() if wired is not None else None

    # faust types signal receivers by a Protocol mypy cannot match a plain function to.
    app.on_before_shutdown.connect(cast(Any, close))

    add_stream_page(app, settings, wiring)
    return app


app = create_app()
