"""Consumes ``routing.decisions`` and hands each decision to the service layer.

Offsets are committed after the decision is stored, so a crash redelivers it; applying a
decision twice changes nothing (see service_layer/decisions.py). A message that is not a
valid decision goes to ``routing.decisions.dlq`` with the error, and consumption goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from shared.events import InvalidEvent, RoutingDecision, decode_decision
from shared.tasks import cancel_and_wait
from shared.topics import DEAD_LETTERS, ROUTING_DECISIONS

__all__ = ["DecisionsConsumer"]

log = logging.getLogger(__name__)


class DecisionsConsumer:
    """Background task: routing decisions -> appeal state."""

    def __init__(
        self,
        make_consumer: Callable[[], Any],
        make_producer: Callable[[], Any],
        handle: Callable[[RoutingDecision], Awaitable[bool]],
    ) -> None:
        self._make_consumer = make_consumer
        self._make_producer = make_producer
        self._handle = handle
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.dead_lettered = 0
        self.connected = False

    def start(self) -> None:
        """Run in the background until stopped."""
        self._task = asyncio.create_task(self._run(), name="decisions-consumer")

    async def stop(self) -> None:
        """Stop consuming (the in-flight decision finishes or is redelivered)."""
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            consumer = self._make_consumer()
            producer = self._make_producer()
            try:
                await consumer.start()
                await producer.start()
                self.connected = True
                backoff = 0.5
                await self._consume(consumer, producer)
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning("decisions consumer: broker unavailable, will retry: %s", exc)
            except Exception:
                log.exception("decisions consumer failed; restarting it")
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await consumer.stop()
                with contextlib.suppress(Exception):
                    await producer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _consume(self, consumer: Any, producer: Any) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            # Decisions for different appeals are independent: apply them concurrently (each
            # appeal's own decisions stay in order), then commit the whole batch.
            per_appeal: dict[Any, list[Any]] = {}
            for messages in batches.values():
                for message in messages:
                    per_appeal.setdefault(message.key, []).append(message)
            await asyncio.gather(
                *(self._apply_in_order(producer, msgs) for msgs in per_appeal.values())
            )
            if batches:
                await consumer.commit()

    async def _apply_in_order(self, producer: Any, messages: list[Any]) -> None:
        for message in messages:
            try:
                decision = decode_decision(message.value)
            except InvalidEvent as exc:
                await self._dead_letter(producer, message, str(exc))
                continue
            try:
                applied = await self._handle(decision)
            except LookupError as exc:  # the appeal does not exist
                await self._dead_letter(producer, message, f"no appeal {exc}")
                continue
            if applied:
                self.applied += 1

    async def _dead_letter(self, producer: Any, message: Any, error: str) -> None:
        log.error("routing decision refused, sent to dead letters: %s", error)
        envelope = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "error": error,
            "value": message.value.decode("utf-8", "replace") if message.value else None,
        }
        await producer.send_and_wait(
            DEAD_LETTERS[ROUTING_DECISIONS], orjson.dumps(envelope), key=message.key
        )
        self.dead_lettered += 1
