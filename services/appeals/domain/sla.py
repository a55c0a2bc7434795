"""The SLA clock of an appeal: deadlines counted on the Chinese working calendar.

Each matter's urgency carries three time limits (``TimeLimits``): sign (签收) within
``sign_minutes``, first response to the resident within ``respond_hours``, resolution (办结)
within ``resolve_workdays``. This module turns them into three instants, all UTC-aware, and
moves them when the clock is paused or the resolution is extended. It is pure: no I/O, and
"now" is always an argument.

Counting policy, fixed in one object (``WorkCalendar``) so a city can change it:

- **Working days** are the official ones: ``chinese_calendar`` knows the public holidays and
  the adjusted working weekends (调休, e.g. Sunday 2025-09-28 before National Day). A city
  may add its own days (``extra_holidays`` / ``extra_workdays``), which also covers the weeks
  between the State Council's annual notice and a library release.
- **Working time** is ``day_start``..``day_end`` (08:30-17:30 Asia/Shanghai) on working days,
  with no lunch break: 12345 units keep a duty officer at noon.
- **Sign and respond** limits of ``normal`` and ``advice`` matters count working minutes; a
  call logged at 20:00 is due for signing 120 working minutes after 08:30 the next working
  day. ``respond_hours`` is converted to working minutes too (24 h -> 1440 working minutes,
  about 2.7 working days): the limit is about staff effort, which only happens in office
  hours.
- **Urgent matters** (``elapsed_urgencies``, by default ``urgent``) count sign and respond in
  elapsed time, day and night, holidays included: a missing manhole cover is as dangerous
  at 02:00 on 1 October as at 10:00 on a Tuesday.
- **Resolution** counts whole working days after the start day, whatever the urgency: the
  day the period starts is not counted (as in Chinese administrative law, 期间开始的当日不计入),
  and the deadline is ``day_end`` of the Nth working day after it.
- A later stage never leaves an earlier one more time: ``sign_by <= respond_by <=
  resolve_by``.
- **Beyond the calendar's data** (``chinese_calendar`` covers 2004 up to the year of its
  release) the calendar falls back to Monday-Friday and logs one warning per year instead of
  raising: a crash would stop intake and the sweeper on 1 January, while a Monday-Friday
  guess is wrong only around holidays and is fixed by upgrading the library or adding
  ``extra_holidays``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict

from shared.city import TimeLimits

__all__ = [
    "DEADLINE_NAMES",
    "DeadlineName",
    "Deadlines",
    "WorkCalendar",
    "add_workdays",
    "add_working_minutes",
    "deadlines_for",
    "extend",
    "missed",
    "shift_for_pause",
    "working_minutes_between",
]

log = logging.getLogger(__name__)

DeadlineName = Literal["sign", "respond", "resolve"]
DEADLINE_NAMES: tuple[DeadlineName, ...] = ("sign", "respond", "resolve")


@cache
def _warn_no_calendar_data(year: int) -> None:
    # cached so the sweeper, which asks thousands of times a day, logs once per year.
    log.warning(
        "chinese_calendar has no holiday data for %s; counting Monday-Friday as working days. "
        "Upgrade chinesecalendar or set extra_holidays/extra_workdays.",
        year,
    )


@dataclass(frozen=True)
class WorkCalendar:
    """The working-time policy: time zone, office hours, holidays, which urgencies run 24/7."""

    tz: str = "Asia/Shanghai"
    day_start: time = time(8, 30)
    day_end: time = time(17, 30)
    elapsed_urgencies: frozenset[str] = frozenset({"urgent"})
    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.day_start >= self.day_end:
            raise ValueError(f"working day {self.day_start}-{self.day_end} is empty")
        if self.extra_holidays & self.extra_workdays:
            raise ValueError("a day cannot be both an extra holiday and an extra working day")

    @cached_property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.tz)

    @property
    def minutes_per_day(self) -> int:
        """Working minutes in one working day."""
        return _minutes(self.day_start, self.day_end)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day (official calendar, city overrides, fallback)."""
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            _warn_no_calendar_data(day.year)
            return day.weekday() < 5

    def counts_elapsed(self, urgency: str | None) -> bool:
        """Whether sign/respond limits of this urgency run in elapsed (24/7) time."""
        return urgency is not None and urgency in self.elapsed_urgencies

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the calendar's time zone."""
        _require_aware(moment)
        return moment.astimezone(self.zone)

    def at(self, day: date, clock: time) -> datetime:
        """The UTC instant of a local wall-clock time on ``day``."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def workdays_after(self, day: date) -> Iterator[date]:
        """The working days strictly after ``day``, in order."""
        while True:
            day += timedelta(days=1)
            if self.is_workday(day):
                yield day


class Deadlines(BaseModel):
    """When an appeal must be signed, responded to and resolved (UTC instants)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sign_by: datetime
    respond_by: datetime
    resolve_by: datetime

    def get(self, name: DeadlineName) -> datetime:
        """One deadline by name (``sign``, ``respond``, ``resolve``)."""
        return {"sign": self.sign_by, "respond": self.respond_by, "resolve": self.resolve_by}[name]

    def as_event_data(self) -> dict[str, datetime]:
        """The ``deadlines`` mapping carried by appeal.dispatched / extended events."""
        return {name: self.get(name) for name in DEADLINE_NAMES}

    @classmethod
    def from_event_data(cls, data: dict[str, datetime] | None) -> Deadlines | None:
        """The inverse of ``as_event_data``; None when an event carries no deadlines."""
        if not data:
            return None
        return cls(sign_by=data["sign"], respond_by=data["respond"], resolve_by=data["resolve"])


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; SLA times are UTC-aware")


def _minutes(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


def add_workdays(moment: datetime, workdays: int, calendar: WorkCalendar) -> datetime:
    """The same local wall-clock time on the ``workdays``-th working day after ``moment``'s day."""
    if workdays < 0:
        raise ValueError("workdays must not be negative")
    local = calendar.local(moment)
    if workdays == 0:
        return moment.astimezone(UTC)
    days = calendar.workdays_after(local.date())
    target = local.date()
    for _ in range(workdays):
        target = next(days)
    return calendar.at(target, local.time())


def _next_working_start(local: datetime, calendar: WorkCalendar) -> datetime:
    """The first instant of working time at or after ``local`` (a local datetime)."""
    day, clock = local.date(), local.time()
    if calendar.is_workday(day) and clock < calendar.day_end:
        if clock < calendar.day_start:
            return calendar.at(day, calendar.day_start).astimezone(calendar.zone)
        return local
    nxt = next(calendar.workdays_after(day))
    return calendar.at(nxt, calendar.day_start).astimezone(calendar.zone)


def add_working_minutes(moment: datetime, minutes: int, calendar: WorkCalendar) -> datetime:
    """The instant ``minutes`` of working time after ``moment`` (time outside hours is skipped)."""
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if minutes == 0:
        return moment.astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    cursor = _next_working_start(calendar.local(moment), calendar)
    while True:
        end_of_day = calendar.at(cursor.date(), calendar.day_end).astimezone(calendar.zone)
        available = end_of_day - cursor
        if remaining <= available:
            return (cursor + remaining).astimezone(UTC)
        remaining -= available
        cursor = _next_working_start(end_of_day, calendar)


def working_minutes_between(start: datetime, end: datetime, calendar: WorkCalendar) -> int:
    """Whole working minutes in [start, end); 0 when ``end`` is not after ``start``."""
    if end <= start:
        return 0
    total = timedelta()
    cursor = _next_working_start(calendar.local(start), calendar)
    end_local = calendar.local(end)
    while cursor < end_local:
        end_of_day = calendar.at(cursor.date(), calendar.day_end).astimezone(calendar.zone)
        total += min(end_of_day, end_local) - cursor
        cursor = _next_working_start(end_of_day, calendar)
    return int(total.total_seconds() // 60)


def deadlines_for(
    start: datetime,
    limits: TimeLimits,
    calendar: WorkCalendar,
    *,
    urgency: str | None = None,
) -> Deadlines:
    """Deadlines of work handed to a unit at ``start``, by the module's counting policy."""
    _require_aware(start)
    if calendar.counts_elapsed(urgency):
        sign_by = start + timedelta(minutes=limits.sign_minutes)
        respond_by = start + timedelta(hours=limits.respond_hours)
    else:
        sign_by = add_working_minutes(start, limits.sign_minutes, calendar)
        respond_by = add_working_minutes(start, limits.respond_hours * 60, calendar)
    resolve_day = calendar.local(add_workdays(start, limits.resolve_workdays, calendar)).date()
    resolve_by = calendar.at(resolve_day, calendar.day_end)
    respond_by = min(respond_by, resolve_by)
    sign_by = min(sign_by, respond_by)
    return Deadlines(
        sign_by=sign_by.astimezone(UTC),
        respond_by=respond_by.astimezone(UTC),
        resolve_by=resolve_by,
    )


def extend(deadlines: Deadlines, workdays: int, calendar: WorkCalendar) -> Deadlines:
    """延期: the resolve deadline moved ``workdays`` working days later (same clock time)."""
    if workdays <= 0:
        raise ValueError("an extension is at least one working day")
    return deadlines.model_copy(
        update={"resolve_by": add_workdays(deadlines.resolve_by, workdays, calendar)}
    )


def shift_for_pause(
    deadlines: Deadlines,
    paused_from: datetime,
    paused_to: datetime,
    calendar: WorkCalendar,
    *,
    urgency: str | None = None,
) -> Deadlines:
    """Deadlines after a pause: each one still ahead at ``paused_from`` moves by the pause.

    The shift is measured on the deadline's own clock: working minutes for working-time
    deadlines and for the resolve deadline, elapsed time for the sign/respond deadlines of
    urgencies that run 24/7. Deadlines already passed when the pause began stay missed.
    """
    if paused_to <= paused_from:
        return deadlines
    working = working_minutes_between(paused_from, paused_to, calendar)
    elapsed = paused_to - paused_from

    def shifted(due: datetime, on_elapsed_clock: bool) -> datetime:
        if due <= paused_from:
            return due
        if on_elapsed_clock:
            return due + elapsed
        return add_working_minutes(due, working, calendar)

    on_elapsed = calendar.counts_elapsed(urgency)
    return Deadlines(
        sign_by=shifted(deadlines.sign_by, on_elapsed),
        respond_by=shifted(deadlines.respond_by, on_elapsed),
        resolve_by=shifted(deadlines.resolve_by, False),
    )


def missed(
    deadlines: Deadlines, now: datetime, already_emitted: Collection[str]
) -> list[DeadlineName]:
    """Deadlines passed by ``now`` that have not been reported yet (for the SLA sweeper)."""
    _require_aware(now)
    return [
        name for name in DEADLINE_NAMES if name not in already_emitted and now > deadlines.get(name)
    ]
