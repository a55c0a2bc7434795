"""The SLA sweeper: records missed deadlines and escalates late appeals (督办), in the background.

Every ``interval`` seconds (``APPEALS_SWEEPER_INTERVAL_SECONDS``) it

1. finds open, running appeals with a passed deadline not yet flagged (``QueueStore.
   missed_unflagged``: one index-served query per deadline) and runs ``lifecycle.RecordOverdue``
   on each through ``execute``. The lifecycle emits one ``appeal.overdue`` per newly missed
   deadline and ``evolve`` adds the deadline to ``overdue_flags``; state, flag and event are
   one conditional document update, so a restart, a second replica or a retried sweep can
   never emit the same overdue twice. A refusal (409: the appeal was resolved, returned or
   paused meanwhile) is expected and skipped.
2. escalates appeals past their resolve deadline (``escalation_due``): a street-level
   supervision as soon as the resolve deadline has passed, then a district-level one
   ``escalation_district_workdays`` working days later — once each per round of work (a
   reassignment or reopening starts a new round). The sweeper's own ``appeal.supervised``
   events in the appeal's log are the record of what was done; the command carries the
   version the check read (``expected_version``), so two sweepers cannot both escalate.
   This runs as the system actor; while the lifecycle refuses ``Supervise`` to the system
   role (403), escalation switches itself off for the process with one warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.appeals.adapters.queue_store import QueueStore
from services.appeals.adapters.store import AppealStore
from services.appeals.domain.lifecycle import CommandRefused, RecordOverdue, Staff, Supervise
from services.appeals.domain.sla import WorkCalendar, add_workdays
from services.appeals.service_layer.commands import AppealNotFound, StaleVersion, execute
from shared.city import City
from shared.events import SYSTEM_SWEEPER
from shared.tasks import cancel_and_wait

__all__ = ["SWEEPER", "SlaSweeper", "SweepReport", "escalation_due"]

log = logging.getLogger(__name__)

SWEEPER = Staff(id=SYSTEM_SWEEPER.id, role="system")
Level = Literal["street", "district"]


def escalation_due(
    events: Sequence[Mapping[str, Any]],
    *,
    resolve_by: datetime,
    round_started: datetime | None,
    now: datetime,
    calendar: WorkCalendar,
    district_after_workdays: int,
) -> Level | None:
    """The supervision level the sweeper owes this appeal now, if any (pure).

    ``events`` are the appeal's stored events (only type, actor, data.level and occurred_at
    are read); supervisions by the sweeper since ``round_started`` count as done.
    """
    if now <= resolve_by:
        return None
    done = {
        (e.get("data") or {}).get("level")
        for e in events
        if e.get("type") == "appeal.supervised"
        and (e.get("actor") or {}).get("id") == SWEEPER.id
        and (round_started is None or _aware(e.get("occurred_at")) >= round_started)
    }
    if "street" not in done:
        return "street"
    if "district" not in done and now > add_workdays(resolve_by, district_after_workdays, calendar):
        return "district"
    return None


def _aware(moment: Any) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_NOTES: dict[Level, str] = {
    "street": "系统督办：办结时限已过，请街道督促承办单位尽快办结。"
    " (SLA: the resolve deadline has passed.)",
    "district": "系统督办：超过办结时限仍未办结，升级至区级督办。"
    " (SLA: still unresolved well after the resolve deadline.)",
}


@dataclass
class SweepReport:
    """What one sweep did."""

    overdue_events: int = 0
    supervised: list[tuple[str, Level]] = field(default_factory=list)
    skipped: int = 0


class SlaSweeper:
    """Background task running ``sweep_once`` every ``interval_seconds``."""

    def __init__(
        self,
        *,
        store: AppealStore,
        queues: QueueStore,
        city: City,
        calendar: WorkCalendar,
        interval_seconds: float,
        batch: int = 200,
        district_after_workdays: int = 2,
        on_events: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.queues = queues
        self.city = city
        self.calendar = calendar
        self.interval_seconds = interval_seconds
        self.batch = batch
        self.district_after_workdays = district_after_workdays
        self.on_events = on_events
        self.escalation_blocked: str | None = None
        self.sweeps = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sweeping in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sla-sweeper")

    async def stop(self) -> None:
        """Stop after the current appeal (graceful shutdown)."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                report = await self.sweep_once()
                if report.overdue_events or report.supervised:
                    log.info(
                        "sla sweep: %d overdue events, %d supervisions",
                        report.overdue_events,
                        len(report.supervised),
                    )
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away; the next sweep tries again
                log.exception("sla sweep failed")
            await asyncio.sleep(self.interval_seconds)

    async def sweep_once(self, now: datetime | None = None) -> SweepReport:
        """One pass: record missed deadlines, then escalate what is due."""
        now = now or datetime.now(UTC)
        report = SweepReport()
        for doc in await self.queues.missed_unflagged(now, self.batch):
            try:
                result = await execute(
                    doc["_id"],
                    RecordOverdue(),
                    SWEEPER,
                    store=self.store,
                    city=self.city,
                    calendar=self.calendar,
                    now=now,
                )
            except (CommandRefused, AppealNotFound):
                report.skipped += 1  # it moved on (resolved, returned...) since the query
                continue
            report.overdue_events += len(result.events)
        if report.overdue_events:
            self.on_events()
        if self.escalation_blocked is None:
            await self._escalate(now, report)
        self.sweeps += 1
        return report

    async def _escalate(self, now: datetime, report: SweepReport) -> None:
        for doc in await self.queues.past_resolve_deadline(now, self.batch):
            deadlines = doc.get("deadlines") or {}
            resolve_by = deadlines.get("resolve_by")
            if resolve_by is None:
                continue
            level = escalation_due(
                doc.get("events") or [],
                resolve_by=_aware(resolve_by),
                round_started=_aware(doc["dispatched_at"]) if doc.get("dispatched_at") else None,
                now=now,
                calendar=self.calendar,
                district_after_workdays=self.district_after_workdays,
            )
            if level is None:
                continue
            try:
                await execute(
                    doc["_id"],
                    Supervise(level=level, note=_NOTES[level]),
                    SWEEPER,
                    store=self.store,
                    city=self.city,
                    calendar=self.calendar,
                    expected_version=int(doc["version"]),
                    now=now,
                )
            except CommandRefused as exc:
                if exc.status == 403:
                    self.escalation_blocked = exc.reason
                    log.warning(
                        "sla escalation is off: the lifecycle refuses Supervise to the sweeper "
                        "(%s); allow role 'system' on Supervise to turn it on",
                        exc.reason,
                    )
                    return
                report.skipped += 1
                continue
            except (StaleVersion, AppealNotFound):
                report.skipped += 1  # changed since read: the next sweep looks again
                continue
            report.supervised.append((doc["_id"], level))
            self.on_events()
