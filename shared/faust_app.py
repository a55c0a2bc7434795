"""A faust.App with what every stream service needs: broker profile, health, /metrics.

routing, notify and metrics are faust workers; each calls ``make_faust_app`` and adds its own
agents. Health endpoints are served by faust's web server on the service's port:
``/healthz`` (alive), ``/readyz`` (the consumer has partitions assigned) and ``/metrics``
(Prometheus exposition of the registry the service passes in).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared.faust_transport import CorrectedApp
from shared.kafka import faust_settings
from shared.settings import CommonSettings
from shared.topics import DEAD_LETTERS

__all__ = ["dead_letter", "make_faust_app"]

log = logging.getLogger(__name__)


def make_faust_app(
    app_id: str,
    settings: CommonSettings,
    *,
    web_port: int,
    registry: CollectorRegistry,
    data_dir: Path | None = None,
    **options: Any,
) -> faust.App:
    """A faust app for one service, configured for the broker profile in ``settings``."""
    profile_options = faust_settings(
        settings.broker_profile, app_id=app_id, instance_id=settings.worker_id
    )
    data_dir = data_dir or Path(".appeals") / "faust" / app_id
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # CorrectedApp: a never-committed partition resumes from its start (shared/faust_transport.py).
    app = CorrectedApp(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_port=web_port,
        web_host=settings.bind_host,
        web_bind=settings.bind_host,
        datadir=str(data_dir),
        consumer_auto_offset_reset="earliest",
        topic_partitions=4,
        # Faust's "leader" topic is only needed by @app.timer(on_leader=True), which no service
        # uses; not creating it spares a topic per app.
        topic_disable_leader=True,
        web_enabled=True,
        **{**profile_options, **options},
    )

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "service": app_id})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        assigned = app.consumer.assignment() if app.consumer else set()
        if not assigned:
            return web.json({"status": "waiting for partitions"}, status=503)
        return web.json({"status": "ready", "partitions": len(assigned)})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a content_type argument with parameters; a header may carry them.
        return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app


# Records already dead-lettered by this worker, oldest first: a record read again (a redelivery,
# or the rewind after a rebalance, shared/faust_transport.py) is parked once, not once a read.
_DEAD_LETTERED: OrderedDict[tuple[str, str, int, int], None] = OrderedDict()
_DEAD_LETTERED_KEPT = 10_000


async def dead_letter(app: faust.App, source_topic: str, event: Any, error: str) -> bool:
    """Send a message the service cannot process to the source topic's dead-letter topic.

    Returns False, sending nothing, when this app has already parked the same record (topic,
    partition, offset): callers count a dead letter only when it is True."""
    message = event.message
    record = (str(app.conf.id), message.topic, message.partition, message.offset)
    if record in _DEAD_LETTERED:
        return False
    value = message.value
    body = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "error": error,
        "service": app.conf.id,
        "value": value.decode("utf-8", "replace") if isinstance(value, bytes) else value,
    }
    # Sent now (force: not attached to the event being processed) and awaited for the
    # broker's ack, so the source offset is not committed before the dead letter is safe.
    sent = await app.topic(DEAD_LETTERS[source_topic], value_serializer="raw").send(
        key=message.key, value=orjson.dumps(body), force=True
    )
    await sent
    _DEAD_LETTERED[record] = None
    while len(_DEAD_LETTERED) > _DEAD_LETTERED_KEPT:
        _DEAD_LETTERED.popitem(last=False)
    return True
