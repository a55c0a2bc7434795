"""The notify use cases: an event in, each (recipient, channel) delivered exactly once.

For one event: update notify's own state (open deadlines, merges), plan the notices (domain),
look each recipient up in the ``ContactDirectory``, pick the channels it can be reached on, and
for each delivery: claim it in the delivery log, compose, send, mark it sent. The log's claim
is what makes a redelivered event harmless; marking ``sent`` right after the channel returns
keeps the one unavoidable window (sent but not yet marked: a crash there sends again on retry)
as short as one database write.

Temporary failures are retried by ``retry_due`` (a timer) with exponential backoff; a
permanent failure, or the last allowed attempt, is dead-lettered to notify.deliveries.dlq.
``remind_due`` (a timer) raises "deadline near" reminders.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2

from services.notify.adapters.delivery_log import DeliveryLog
from services.notify.adapters.notify_state import DeadlineBook, MergeBook
from services.notify.adapters.prometheus import NotifyMetrics
from services.notify.domain.channels import (
    Channel,
    Delivery,
    DeliveryError,
    PermanentFailure,
    Reach,
    channels_for,
)
from services.notify.domain.contacts import ContactDirectory, reach_for
from services.notify.domain.deadlines import deadline_changes, reminder_trigger
from services.notify.domain.messages import MessageComposer
from services.notify.domain.privacy import scrub
from services.notify.domain.recipients import Notice, Trigger, plan_notices
from services.notify.domain.retry import after_failure
from shared.city import City
from shared.events import EventEnvelope

__all__ = ["DeadLetter", "Notifier", "RetryPolicy", "UnknownAppeal"]

log = logging.getLogger(__name__)

DeadLetter = Callable[[dict[str, Any]], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try."""

    max_attempts: int = 8
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    lease_seconds: float = 60.0
    reminder_fraction: float = 0.8

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery belongs to its sender."""
        return timedelta(seconds=self.lease_seconds)


class UnknownAppeal(LookupError):
    """An event names an appeal that does not exist."""


@dataclass
class Notifier:
    """Everything one notify worker needs, wired by bootstrap."""

    log: DeliveryLog
    directory: ContactDirectory
    channels: Mapping[str, Channel]
    composer: MessageComposer
    deadlines: DeadlineBook
    merges: MergeBook
    metrics: NotifyMetrics
    dead_letter: DeadLetter
    city: City | None = None
    subscribers: Mapping[str, str] | None = None  # name -> webhook URL
    policy: RetryPolicy = RetryPolicy()
    clock: Callable[[], datetime] = _now

    async def handle_event(self, event: EventEnvelope) -> None:
        """Everything one lifecycle event calls for; safe to call again for the same event.

        Raises UnknownAppeal for an event about an appeal the appeals service does not have
        (the worker parks it on the dead-letter topic rather than notify anyone of a ghost).
        """
        if await self.directory.resident(event.appeal_id) is None:
            raise UnknownAppeal(f"{event.type} for unknown appeal {event.appeal_id}")
        trigger = Trigger.from_event(event)
        self.metrics.events.labels(event.type).inc()
        changes = deadline_changes(trigger, fraction=self.policy.reminder_fraction)
        await self.deadlines.apply(trigger.appeal_id, changes)
        merged: list[str] = []
        if event.type == "appeal.merged":
            await self.merges.record(
                event.appeal_id, str(event.data["master_id"]), at=event.occurred_at
            )
        elif event.type == "appeal.resolved":
            merged = await self.merges.merged_into(event.appeal_id)
        notices = plan_notices(
            trigger,
            city=self.city,
            merged_appeals=merged,
            subscribers=sorted(self.subscribers or {}),
        )
        await self.deliver(notices)

    async def deliver(self, notices: list[Notice]) -> None:
        """Claim and send every delivery the notices call for."""
        active = frozenset(self.channels)
        for notice in notices:
            reach = await self._reach(notice)
            for channel in channels_for(notice, reach, active):
                delivery = Delivery(notice, channel)
                claim = await self.log.claim(delivery, now=self.clock(), lease=self.policy.lease)
                if not claim.claimed:
                    # Sent already, or claimed by a sender whose lease the retry timer watches.
                    self.metrics.deliveries.labels(channel, "duplicate").inc()
                    continue
                await self._attempt(delivery, reach, attempts=1)

    async def retry_due(self, limit: int = 50) -> int:
        """Try due retries and deliveries whose sender died; returns how many were tried."""
        tried = 0
        now = self.clock()
        for doc in await self.log.due(now=now, limit=limit):
            if not await self.log.reclaim(doc, now=now, lease=self.policy.lease):
                continue  # another worker took it
            trigger = Trigger.from_doc(doc["trigger"])
            notice = Notice.from_doc(trigger, doc["notice"])
            delivery = Delivery(notice, doc["channel"])
            attempts = int(doc["attempts"]) + 1
            tried += 1
            if delivery.channel not in self.channels:
                error = PermanentFailure(f"channel {delivery.channel} is no longer active")
                await self._failed(delivery, error, attempts)
                continue
            reach = await self._reach(notice)
            await self._attempt(delivery, reach, attempts=attempts)
        return tried

    async def remind_due(self, limit: int = 100) -> int:
        """Raise "deadline near" reminders that are due; returns how many were raised."""
        raised = 0
        now = self.clock()
        for deadline in await self.deadlines.due(now=now, limit=limit):
            # Once a deadline has passed, appeal.overdue tells unit and coordinator instead.
            if now < deadline.due_at:
                trigger = reminder_trigger(deadline)
                await self.deliver(plan_notices(trigger, city=self.city))
                self.metrics.reminders.labels(deadline.name).inc()
                raised += 1
            await self.deadlines.mark_reminded(deadline)
        return raised

    async def _reach(self, notice: Notice) -> Reach:
        recipient = notice.recipient
        if recipient.kind == "resident":
            return reach_for(recipient, resident=await self.directory.resident(recipient.id))
        if recipient.kind == "unit":
            return reach_for(recipient, unit=await self.directory.unit(recipient.id))
        return reach_for(recipient, subscribers=self.subscribers)

    async def _attempt(self, delivery: Delivery, reach: Reach, *, attempts: int) -> None:
        channel = self.channels[delivery.channel]
        context = {
            "appeal_id": delivery.notice.trigger.appeal_id,
            "event_id": delivery.notice.trigger.id,
        }
        try:
            message = self.composer.compose(delivery, reach)
        except jinja2.TemplateError as exc:
            await self._failed(delivery, PermanentFailure(f"template: {exc}"), attempts)
            return
        started = time.perf_counter()
        try:
            await channel.send(message)
        except DeliveryError as exc:
            self.metrics.seconds.labels(delivery.channel).observe(time.perf_counter() - started)
            log.warning(
                "delivery %s to %s %s failed (attempt %d): %s",
                delivery.key,
                delivery.channel,
                message.masked_to,
                attempts,
                scrub(str(exc)),
                extra=context,
            )
            await self._failed(delivery, exc, attempts)
            return
        # First thing after the channel returns: the only double-send window is this write.
        await self.log.mark_sent(delivery.key, now=self.clock())
        self.metrics.seconds.labels(delivery.channel).observe(time.perf_counter() - started)
        self.metrics.deliveries.labels(delivery.channel, "sent").inc()
        log.info(
            "delivered %s to %s over %s %s",
            delivery.notice.topic,
            delivery.notice.recipient.address,
            delivery.channel,
            message.masked_to,
            extra=context,
        )

    async def _failed(self, delivery: Delivery, error: DeliveryError, attempts: int) -> None:
        now = self.clock()
        text = scrub(str(error))[:500]
        decision = after_failure(
            error,
            attempts=attempts,
            max_attempts=self.policy.max_attempts,
            now=now,
            base=self.policy.base_seconds,
            cap=self.policy.max_seconds,
            jitter=random.random(),
        )
        if decision.retry:
            assert decision.next_attempt_at is not None
            await self.log.mark_retry(
                delivery.key, error=text, next_attempt_at=decision.next_attempt_at
            )
            self.metrics.deliveries.labels(delivery.channel, "retry").inc()
            return
        notice = delivery.notice
        # Dead-letter first, then mark: a crash in between repeats the dead letter rather
        # than losing it.
        await self.dead_letter(
            {
                "key": delivery.key,
                "event_id": notice.trigger.id,
                "appeal_id": notice.trigger.appeal_id,
                "event_type": notice.trigger.type,
                "recipient": notice.recipient.address,
                "channel": delivery.channel,
                "topic": notice.topic,
                "attempts": attempts,
                "reason": decision.reason,
                "error": text,
                "failed_at": now.isoformat(),
            }
        )
        await self.log.mark_failed(delivery.key, error=text, reason=decision.reason, now=now)
        self.metrics.deliveries.labels(delivery.channel, "failed").inc()
        self.metrics.dead_letters.labels(delivery.channel).inc()
        log.error(
            "delivery %s gave up (%s): %s",
            delivery.key,
            decision.reason,
            text,
            extra={"appeal_id": notice.trigger.appeal_id, "event_id": notice.trigger.id},
        )
