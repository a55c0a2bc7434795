"""The routing watchdog: an appeal left in ``received`` is sent to routing again.

Routing answers in milliseconds, so an appeal still ``received`` minutes after intake means its
``appeal.received`` or the decision about it was lost between the processes (a broker that
rolled back its log, a consumer that skipped a partition: docs/faults.md, findings 1, 2 and
8). The appeals service is the system of record, so it is the one that notices: every
``stall_seconds / 2`` it looks for appeals received more than ``stall_seconds`` ago, whose
events have all left the outbox, and puts their stored ``appeal.received`` back in the outbox.
The relay publishes it again with the same event id, which every consumer already treats as a
redelivery: routing decides again (a decision for an appeal that moved on is ignored by the
decisions consumer), metrics and notify de-duplicate on the event id.

An appeal is re-sent at most once per ``stall_seconds`` (``routing_resent_at``), each re-send
is counted (``routing_resends`` on the document, ``appeals_routing_resent_total`` in
Prometheus) and logged, so a stall is visible even though it heals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.appeals.adapters.queue_store import QueueStore
from services.appeals.adapters.store import AppealStore
from shared.tasks import cancel_and_wait

__all__ = ["RoutingWatchdog", "stalled_received"]

log = logging.getLogger(__name__)


def stalled_received(
    docs: Iterable[Mapping[str, Any]], *, now: datetime, stall: timedelta
) -> list[tuple[str, str]]:
    """(appeal id, event id of its ``appeal.received``) for each appeal to re-send (pure).

    ``docs`` are appeals in state ``received``; one is re-sent when it was received more than
    ``stall`` ago, nothing of it waits in the outbox (a pending event means the relay, not
    routing, is behind) and it was not re-sent within ``stall``.
    """
    due: list[tuple[str, str]] = []
    for doc in docs:
        if doc.get("state") != "received" or doc.get("outbox"):
            continue
        received_at = doc.get("received_at")
        if not isinstance(received_at, datetime) or now - _aware(received_at) <= stall:
            continue
        resent_at = doc.get("routing_resent_at")
        if isinstance(resent_at, datetime) and now - _aware(resent_at) <= stall:
            continue
        received = next(
            (e for e in doc.get("events") or [] if e.get("type") == "appeal.received"), None
        )
        if received is not None and received.get("event_id"):
            due.append((str(doc["_id"]), str(received["event_id"])))
    return due


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RoutingWatchdog:
    """Background task re-sending stalled appeals to routing (see the module docstring)."""

    def __init__(
        self,
        *,
        store: AppealStore,
        queues: QueueStore,
        stall_seconds: float,
        batch: int = 200,
        on_resent: Callable[[int], None] = lambda count: None,
        republish: Callable[[str], None] = lambda event_id: None,
    ) -> None:
        self.store = store
        self.queues = queues
        self.stall = timedelta(seconds=stall_seconds)
        self.batch = batch
        self.on_resent = on_resent
        # Tells the relay that an event it published lately must go out again (its memory of
        # published events would hold the re-send back): OutboxRelay.forget.
        self.republish = republish
        self.resent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching in the background (a stall of 0 turns the watchdog off)."""
        if self._task is None and self.stall > timedelta(0):
            self._task = asyncio.create_task(self._run(), name="routing-watchdog")

    async def stop(self) -> None:
        """Stop watching."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.stall.total_seconds() / 2)
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away; the next round tries again
                log.exception("routing watchdog round failed")

    async def check_once(self, now: datetime | None = None) -> list[str]:
        """One round: re-send what has stalled; returns the appeal ids re-sent."""
        now = now or datetime.now(UTC)
        candidates = await self.queues.received_before(now - self.stall, self.batch)
        resent: list[str] = []
        for appeal_id, event_id in stalled_received(candidates, now=now, stall=self.stall):
            # Before the write: the write wakes the relay, which must not skip the event.
            self.republish(event_id)
            if await self.store.resend_for_routing(appeal_id, event_id, now=now):
                resent.append(appeal_id)
        if resent:
            self.resent += len(resent)
            self.on_resent(len(resent))
            log.warning(
                "routing watchdog: %d appeal(s) still received after %.0f s, sent to routing "
                "again: %s",
                len(resent),
                self.stall.total_seconds(),
                ", ".join(resent[:20]),
            )
        return resent
